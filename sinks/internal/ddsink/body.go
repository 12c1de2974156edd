package ddsink

import (
	"strconv"
	"unicode/utf8"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"

	"github.com/auditstream/auditstream/sinks/internal/eventjson"
)

// The request body is written here, not by the client's encoder. The
// client's SubmitLog encodes each HTTPLogItem through MarshalJSON, which
// builds a map of the item's members, marshals it, and hands the bytes
// back to the encoder, which scans them again to compact them: on make
// bench's logs that took a third of the sink's CPU, for JSON this package
// already holds but for the quoting (the message is the event's JSON,
// written by eventjson). Writing the same bytes directly costs about a
// seventh of it (BenchmarkBody). The request itself is still the
// client's: its URL, headers and authentication (Writer.post).
//
// The bytes are the client's to the byte: the members in key order (the
// client marshals a map, whose keys encoders sort), strings escaped as its
// encoder escapes them (jsonEscapes), the encoder's trailing newline.
// TestBodyIsTheClients encodes the same logs both ways and compares them,
// so a change in the client's HTTPLogItem (a member renamed, added or
// dropped, another escaping) fails it; logSize counts these bytes.

// ddlog is what differs from one log to the next, as HTTPLogItem would
// hold it.
type ddlog struct {
	message string // the event's JSON, unquoted
	tags    string // ddtags, "" for none
	timed   bool   // whether there is a timestamp
	millis  int64  // the timestamp, when timed
}

// item returns l as the client's model: what the body would hold if the
// client encoded it.
func (m *mapper) item(l ddlog) datadogV2.HTTPLogItem {
	it := datadogV2.HTTPLogItem{
		Message:  l.message,
		Ddsource: m.source,
		Service:  m.service,
		Hostname: m.hostname,
	}
	if l.tags != "" {
		it.Ddtags = &l.tags
	}
	if l.timed {
		it.AdditionalProperties = map[string]any{timestampAttr: l.millis}
	}
	return it
}

// appendBody appends the request body of entries' logs to b: a JSON array
// and a newline.
func (m *mapper) appendBody(b []byte, entries []entry) []byte {
	b = append(b, '[')
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = m.appendLog(b, &entries[i].log)
	}
	return append(b, ']', '\n')
}

// appendLog appends the JSON of l to b, its members in key order.
func (m *mapper) appendLog(b []byte, l *ddlog) []byte {
	b = append(b, '{')
	b = append(b, m.sourceMember...)
	if l.tags != "" {
		if len(m.sourceMember) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"ddtags":`...)
		b = appendQuoted(b, l.tags)
	}
	if len(m.sourceMember) > 0 || l.tags != "" {
		b = append(b, ',')
	}
	// hostnameMember and serviceMember carry their own commas.
	b = append(b, m.hostnameMember...)
	b = append(b, `"message":`...)
	b = appendQuoted(b, l.message)
	b = append(b, m.serviceMember...)
	if l.timed {
		b = append(b, `,"`+timestampAttr+`":`...)
		b = strconv.AppendInt(b, l.millis, 10)
	}
	return append(b, '}')
}

// member returns "key":"value" as the client's encoder writes it, or ""
// for a nil value.
func member(key string, value *string) string {
	if value == nil {
		return ""
	}
	b := append([]byte{'"'}, key...)
	b = append(b, '"', ':')
	return string(appendQuoted(b, *value))
}

// hexDigits are the digits of \u00XX escapes, lower case as the client's
// encoders write them.
const hexDigits = "0123456789abcdef"

// appendQuoted appends s to b as a JSON string, escaped as the client's
// encoder escapes it (quotedLen counts these bytes): jsonEscapes for
// ASCII, \ufffd for each byte of invalid UTF-8, \u2028 and \u2029 for
// those characters, any other character as is.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // of the run of bytes to copy as they are
	for i := 0; i < len(s); {
		i += eventjson.PlainPrefix(s[i:])
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf { // not plain: jsonEscapes[c] > 0
			b = append(b, s[start:i]...)
			switch {
			case jsonEscapes[c] == 5:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default: // '"', '\\'
				b = append(b, '\\', c)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = `\ufffd`
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
