//go:build !goccy_gojson

package ddsink

// The client's encoder is encoding/json (built without the goccy_gojson
// tag; see encoder_goccy.go).
const (
	// shortBF is whether the client's encoder writes \b and \f as such
	// (encoding/json does since Go 1.22) rather than as \u0008 and \u000c.
	shortBF = true
)
