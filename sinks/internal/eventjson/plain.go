package eventjson

import "math/bits"

// PlainPrefix returns how many bytes at the start of s are plain: written
// as they are in a JSON string by both protojson and encoding/json (ASCII
// from the space on, but for '"', '\' and the <, > and & that
// encoding/json escapes for HTML). It tests eight bytes at a time.
func PlainPrefix(s string) int {
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		if special := specialBytes(load64(s[i : i+8])); special != 0 {
			return i + bits.TrailingZeros64(special)/8
		}
	}
	for ; i < len(s) && plainBytes[s[i]]; i++ {
	}
	return i
}
