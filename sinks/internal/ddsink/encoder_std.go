//go:build !goccy_gojson

package ddsink

// The client encodes with encoding/json (built without the goccy_gojson
// tag; see encoder_goccy.go).
const (
	// fastJSON is whether the client was built with goccy/go-json.
	fastJSON = false
	// shortBF is whether the client's encoder writes \b and \f as such
	// (encoding/json does since Go 1.22) rather than as \u0008 and \u000c.
	shortBF = true
)
