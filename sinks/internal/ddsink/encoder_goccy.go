//go:build goccy_gojson

package ddsink

// The client's encoder is goccy/go-json: datadog-api-client-go selects it
// with the goccy_gojson build tag, which make and the Dockerfile set
// (GOFLAGS). The Writer writes request bodies itself (body.go), escaping
// strings as the client's encoder would, so that the bytes sent are the
// client's whichever encoder it was built with.
const shortBF = false // goccy/go-json writes \b and \f as \u0008 and \u000c
