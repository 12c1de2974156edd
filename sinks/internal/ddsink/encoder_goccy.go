//go:build goccy_gojson

package ddsink

// The client encodes with goccy/go-json: datadog-api-client-go selects it
// with the goccy_gojson build tag, which make and the Dockerfile set
// (GOFLAGS). It encodes a request in about half encoding/json's time,
// which is a third of the sink's CPU (see the README, "Datadog sink").
const (
	fastJSON = true
	shortBF  = false // goccy/go-json writes \b and \f as \u0008 and \u000c
)
