package ddsink

import (
	"strconv"
	"unicode/utf8"
)

// The intake's documented bounds. The documentation writes 5MB and 1MB;
// Datadog's own shippers read them as decimal, and so does this package.
const (
	maxEntries      = MaxEntries // logs in one request
	maxPayloadBytes = MaxBytes   // uncompressed JSON in one request
	maxLogBytes     = 1_000_000  // JSON in one log; the intake truncates above
)

// limits bound the requests a Writer sends. They are the intake's, except
// in tests.
type limits struct {
	entries      int
	payloadBytes int
	logBytes     int
}

// entry is one log ready to send, with the offset of its record.
type entry struct {
	offset int64
	log    ddlog
	size   int  // the bytes of its JSON, as the client encodes it (appendLog writes it)
	old    bool // older than Datadog keeps
}

// logSize returns the bytes the client will send for the log p, whose
// message takes msgQuoted bytes once quoted and whose ddtags are tags,
// without encoding it. appendLog writes each log as the client would
// (HTTPLogItem.MarshalJSON, which is datadog.Marshal of a map): an object
// of the members present, in key order, each a quoted key, a colon and the
// value (strings escaped as the client's encoder escapes them, the
// timestamp in decimal). The count is exact, and TestLogSizeIsTheClients
// holds it to datadog.Marshal's (TestBodyIsTheClients holds appendLog to
// it); if it ever fell short, the intake's 413 would still split the
// request.
func (m *mapper) logSize(msgQuoted int, tags []byte, p pendingLog) int {
	n, members := m.fixed+memberLen("message", msgQuoted), m.fixedMembers+1
	if len(tags) > 0 {
		n += memberLen("ddtags", quotedLen(tags))
		members++
	}
	if p.timed {
		var digits [20]byte
		n += memberLen(timestampAttr, len(strconv.AppendInt(digits[:0], p.millis, 10)))
		members++
	}
	return n + members - 1 + 2 // the commas and the braces
}

// memberLen returns the bytes of an object member with a plain key and a
// value of valueLen bytes: "key":value.
func memberLen(key string, valueLen int) int {
	return len(key) + 3 + valueLen
}

// jsonEscapes holds, for each ASCII byte, how many bytes the client's
// encoder adds to it in a string with HTML escaping (json.Marshal's): one
// for '"', '\\' and the control characters with a short escape (\n \r \t,
// and \b \f when shortBF), five for the other control characters and <, >
// and & (\u00XX).
var jsonEscapes = func() (t [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || shortBF && (c == '\b' || c == '\f'):
			t[c] = 1
		case c < ' ' || c == '<' || c == '>' || c == '&':
			t[c] = 5
		}
	}
	return t
}()

// quotedLen returns the bytes the client's encoder writes for s as a
// string with HTML escaping, quotes included: jsonEscapes for ASCII,
// \ufffd (six bytes) for each byte of invalid UTF-8, \u2028 and \u2029 (six
// bytes for three), any other character as is.
func quotedLen(s []byte) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			n += int(jsonEscapes[c])
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
		i += size
	}
	return n
}

// payloadSize returns the bytes of a request body holding n logs whose
// JSON sums to logBytes: the brackets, the commas and the encoder's
// trailing newline.
func payloadSize(n, logBytes int) int {
	if n == 0 {
		return 3 // "[]\n"
	}
	return logBytes + (n - 1) + 3
}

// requests cuts entries, in order, into requests within l. An entry that
// does not fit a request of its own (which logBytes well below payloadBytes
// rules out) goes alone.
func requests(entries []entry, l limits) [][]entry {
	var out [][]entry
	start, bytes := 0, 0
	for i, e := range entries {
		n := i - start
		if n > 0 && (n >= l.entries || payloadSize(n+1, bytes+e.size) > l.payloadBytes) {
			out = append(out, entries[start:i:i])
			start, bytes = i, 0
		}
		bytes += e.size
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}
