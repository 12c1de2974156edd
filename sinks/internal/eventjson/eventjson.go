// Package eventjson writes an audit event as JSON: protojson's output with
// the zero MarshalOptions, compacted, byte for byte, several times faster.
// It is the S3 archive's line for an event and the Datadog log's message.
package eventjson

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// This package writes an event's protojson by hand. protojson walks the
// event through reflection, allocating as it goes: it was a sixth of the
// Datadog sink's CPU and two fifths of the S3 sink's. Writing the few known
// message types directly takes a fraction of that.
//
// The output is protojson's with the zero MarshalOptions, compacted: the
// fields in number order under their JSON names, unpopulated ones left
// out, Struct keys sorted, protojson's string escaping, timestamps in RFC
// 3339 with 0, 3, 6 or 9 fractional digits, numbers as protojson formats
// them: json.Compact of protojson's output, byte for byte, which is also
// the S3 archive's line. (protojson inserts random spaces; compacting
// removes them.)
//
// Whatever protojson would refuse or treat specially is left to it, so
// that its answer (an error, mostly) is the one given: invalid UTF-8, a
// Value with no kind or a NaN or infinite number, a timestamp out of
// range, a nil message in a Struct or a list, data nested deeper than
// MaxNesting. So is every event when event.proto no longer has exactly the
// fields below (knownLayout); TestKnownLayout fails until they are
// brought back in line.

// MaxNesting bounds the depth of Struct and list values written here;
// deeper data is left to protojson.
const MaxNesting = 32

// eventLayout is the Event as this file writes it: each field's number,
// JSON name, kind, whether it is repeated, and its message type.
var eventLayout = []struct {
	number   protoreflect.FieldNumber
	json     string
	kind     protoreflect.Kind
	repeated bool
	message  protoreflect.FullName
}{
	{1, "id", protoreflect.StringKind, false, ""},
	{2, "projectId", protoreflect.StringKind, false, ""},
	{3, "action", protoreflect.StringKind, false, ""},
	{4, "type", protoreflect.StringKind, false, ""},
	{5, "actorId", protoreflect.StringKind, false, ""},
	{6, "userId", protoreflect.StringKind, false, ""},
	{7, "loginIds", protoreflect.StringKind, true, ""},
	{8, "tenants", protoreflect.StringKind, true, ""},
	{9, "remoteAddress", protoreflect.StringKind, false, ""},
	{10, "occurred", protoreflect.MessageKind, false, "google.protobuf.Timestamp"},
	{11, "device", protoreflect.StringKind, false, ""},
	{12, "method", protoreflect.StringKind, false, ""},
	{13, "geo", protoreflect.StringKind, false, ""},
	{14, "externalIds", protoreflect.StringKind, true, ""},
	{15, "data", protoreflect.MessageKind, false, "google.protobuf.Struct"},
}

// KnownLayout reports whether the compiled Event has exactly the fields of
// eventLayout, which Writer writes by hand.
func KnownLayout() bool {
	fields := (&auditv1.Event{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() != len(eventLayout) {
		return false
	}
	for _, want := range eventLayout {
		fd := fields.ByNumber(want.number)
		if fd == nil || fd.JSONName() != want.json || fd.Kind() != want.kind || fd.IsList() != want.repeated ||
			fd.IsMap() || fd.ContainingOneof() != nil {
			return false
		}
		if want.message != "" && fd.Message().FullName() != want.message {
			return false
		}
	}
	return true
}

// Writer appends events' JSON. Its scratch is reused from one event to the
// next; it is not safe for concurrent use.
type Writer struct {
	// handWritten is whether the Event is the one this package knows
	// (KnownLayout); else every event is left to protojson.
	handWritten bool
	keys        []string // Struct keys being sorted, a run per open Struct
	ok          bool     // false once something is left to protojson
	more        bool     // a member of the open object came before
	scratch     []byte   // for AppendProtojson
	// extra counts the bytes encoding/json adds to the JSON when it quotes
	// it as a string: a Datadog log's size, without a second pass.
	extra int
}

// QuotedExtra is what encoding/json adds to the bytes of the JSON last
// written by Append when it writes them as a JSON string: the quotes and
// the escapes.
func (w *Writer) QuotedExtra() int { return w.extra + 2 }

// AppendProtojson appends ev's JSON to b: by hand, or else by protojson,
// compacted. The bytes are the same either way; the errors are protojson's.
func (w *Writer) AppendProtojson(b []byte, ev *auditv1.Event) ([]byte, error) {
	if out, ok := w.Append(b, ev); ok {
		return out, nil
	}
	var err error
	if w.scratch, err = (protojson.MarshalOptions{}).MarshalAppend(w.scratch[:0], ev); err != nil {
		return b, err
	}
	return Compact(b, w.scratch), nil
}

// Compact appends src, a JSON text, to dst without the whitespace between
// tokens: what json.Compact does for valid JSON, several times faster.
// Strings are copied as they are, escapes included.
func Compact(dst, src []byte) []byte {
	inString, escaped := false, false
	start := 0 // of the run of bytes to copy
	for i, c := range src {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// NewWriter returns a Writer.
func NewWriter() *Writer { return &Writer{handWritten: KnownLayout()} }

// Append appends ev's JSON to b and reports true, or reports false, with
// b's content past its length undefined, when ev is one for protojson.
// After a true, QuotedExtra tells what quoting the JSON adds.
func (w *Writer) Append(b []byte, ev *auditv1.Event) ([]byte, bool) {
	if !w.handWritten {
		return b, false
	}
	// The methods below take the bytes and return them, as append does,
	// rather than keep them in w: a slice stored in the heap at every
	// append costs a write barrier while the GC runs, and the sinks
	// allocate enough that it often does.
	w.ok, w.more, w.extra = true, false, 0
	b = append(b, '{')
	b = w.str(b, "id", ev.GetId())
	b = w.str(b, "projectId", ev.GetProjectId())
	b = w.str(b, "action", ev.GetAction())
	b = w.str(b, "type", ev.GetType())
	b = w.str(b, "actorId", ev.GetActorId())
	b = w.str(b, "userId", ev.GetUserId())
	b = w.strs(b, "loginIds", ev.GetLoginIds())
	b = w.strs(b, "tenants", ev.GetTenants())
	b = w.str(b, "remoteAddress", ev.GetRemoteAddress())
	if t := ev.GetOccurred(); t != nil {
		b = w.field(b, "occurred")
		b = w.timestamp(b, t)
	}
	b = w.str(b, "device", ev.GetDevice())
	b = w.str(b, "method", ev.GetMethod())
	b = w.str(b, "geo", ev.GetGeo())
	b = w.strs(b, "externalIds", ev.GetExternalIds())
	if d := ev.GetData(); d != nil {
		b = w.field(b, "data")
		b = w.object(b, d, 1)
	}
	return append(b, '}'), w.ok
}

// name starts a member of the open object.
func (w *Writer) name(b []byte, n string) []byte {
	if w.more {
		b = append(b, ',')
	}
	w.more = true
	b = w.quote(b, n)
	return append(b, ':')
}

// field starts a member of the open object, a field of the Event: its
// JSON name needs no escaping, unlike a Struct key.
func (w *Writer) field(b []byte, name string) []byte {
	if w.more {
		b = append(b, ',')
	}
	w.more = true
	w.extra += 2 // the quotes, escaped
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// str writes a string field, unless it is empty.
func (w *Writer) str(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = w.field(b, name)
	return w.quote(b, v)
}

// strs writes a repeated string field, unless it is empty.
func (w *Writer) strs(b []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = w.field(b, name)
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = w.quote(b, v)
	}
	return append(b, ']')
}

// timestamp writes t as protojson does. Out of protojson's range, it
// leaves t to protojson.
func (w *Writer) timestamp(b []byte, t *timestamppb.Timestamp) []byte {
	const minSeconds, maxSeconds = -62135596800, 253402300799 // 0001-01-01, 9999-12-31T23:59:59
	secs, nanos := t.GetSeconds(), int64(t.GetNanos())
	if secs < minSeconds || secs > maxSeconds || nanos < 0 || nanos >= 1e9 {
		w.ok = false
		return b
	}
	w.extra += 2 // the quotes, escaped
	// What AppendFormat would write for 2006-01-02T15:04:05, without
	// reading a layout.
	utc := time.Unix(secs, 0).UTC()
	year, month, day := utc.Date()
	hour, minute, second := utc.Clock()
	b = append(b, '"')
	b = appendPadded(b, year, 4)
	b = append(b, '-')
	b = appendPadded(b, int(month), 2)
	b = append(b, '-')
	b = appendPadded(b, day, 2)
	b = append(b, 'T')
	b = appendPadded(b, hour, 2)
	b = append(b, ':')
	b = appendPadded(b, minute, 2)
	b = append(b, ':')
	b = appendPadded(b, second, 2)
	if nanos != 0 {
		digits := 9
		for digits > 3 && nanos%1000 == 0 {
			nanos /= 1000
			digits -= 3
		}
		b = append(b, '.')
		b = appendPadded(b, int(nanos), digits)
	}
	return append(b, 'Z', '"')
}

// appendPadded appends v, not negative, in decimal with leading zeros to
// digits digits, at most nine.
func appendPadded(b []byte, v, digits int) []byte {
	var d [9]byte
	for i := digits - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:digits]...)
}

// object writes a Struct, its keys sorted as protojson sorts them.
func (w *Writer) object(b []byte, s *structpb.Struct, depth int) []byte {
	if depth > MaxNesting {
		w.ok = false
		return b
	}
	start := len(w.keys)
	for k := range s.GetFields() {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys[start:])
	b = append(b, '{')
	w.more = false
	// Nested objects append to w.keys, which may move: index it afresh.
	for i := start; i < len(w.keys) && w.ok; i++ {
		k := w.keys[i]
		b = w.name(b, k)
		b = w.value(b, s.GetFields()[k], depth)
	}
	w.keys = w.keys[:start]
	w.more = true
	return append(b, '}')
}

// value writes a Value.
func (w *Writer) value(b []byte, v *structpb.Value, depth int) []byte {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(b, "null"...)
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(b, k.BoolValue)
	case *structpb.Value_StringValue:
		return w.quote(b, k.StringValue)
	case *structpb.Value_NumberValue:
		return w.number(b, k.NumberValue)
	case *structpb.Value_StructValue:
		if k.StructValue == nil {
			w.ok = false
			return b
		}
		return w.object(b, k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		if k.ListValue == nil || depth+1 > MaxNesting {
			w.ok = false
			return b
		}
		b = append(b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = w.value(b, e, depth+1)
		}
		w.more = true
		return append(b, ']')
	default: // no kind, or a nil Value: protojson's error
		w.ok = false
		return b
	}
}

// number writes a finite float64 as protojson does (its appendFloat, after
// encoding/json): %f between 1e-6 and 1e21, else %e with a one-digit
// exponent when it fits. NaN and infinities are protojson's errors.
func (w *Writer) number(b []byte, n float64) []byte {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		w.ok = false
		return b
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, n, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// plainBytes marks the bytes that both protojson and encoding/json write
// as they are in a string: ASCII from the space on, but for '"', '\',
// and the <, > and & that encoding/json escapes for HTML.
var plainBytes = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// load64 returns the first eight bytes of s as a little-endian word: the
// compiler makes it one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// specialBytes tests x, eight bytes of a string, for bytes that are not
// plain (plainBytes): it returns x's high bits of those bytes, and maybe
// of some after them, so zero when all eight are plain, and else the
// lowest bit set is in the first byte that is not. It tests the eight
// bytes at once with the classic bit tricks: (b - n) &^ b has its high bit
// set when b is below n (for n up to 0x80), and b^c is below 1 when b is
// c. A borrow only carries into later bytes, so the first flag is exact.
// '"' and '&' differ in one bit, as do '<' and '>': one test each, with
// that bit set, finds both.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	control := (x - ones*' ') &^ x
	quoteAmp := (x | ones*('"'^'&')) ^ ones*'&'
	quoteAmp = (quoteAmp - ones) &^ quoteAmp
	angle := (x | ones*('<'^'>')) ^ ones*'>'
	angle = (angle - ones) &^ angle
	backslash := x ^ ones*'\\'
	backslash = (backslash - ones) &^ backslash
	return (x | control | quoteAmp | angle | backslash) & highs
}

// quote writes s as a JSON string the way protojson escapes it: '"', '\'
// and control characters only, \b \f \n \r \t by name, the others as
// \u00XX. Invalid UTF-8 is protojson's error. It adds to w.extra what
// encoding/json will add to the bytes written: a backslash before each '"'
// and '\', \u00XX for <, > and & (five more), \u2028 and \u2029 for those
// characters (three more).
func (w *Writer) quote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	extra := w.extra + 2 // kept in a local in the loop, then in w
	start := 0           // of the run of bytes to copy as they are
	for i := 0; i < len(s); {
		// Skip eight plain bytes at a time; else go to the first byte
		// that is not plain.
		if len(s)-i >= 8 {
			special := specialBytes(load64(s[i : i+8]))
			if special == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(special) / 8
		}
		c := s[i]
		if plainBytes[c] {
			i++
			continue
		}
		switch {
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				w.ok = false
				return b
			}
			if r == '\u2028' || r == '\u2029' {
				extra += 3
			}
			i += n
			continue
		case c == '<' || c == '>' || c == '&':
			extra += 5
			i++
			continue
		}
		b = append(b, s[start:i]...)
		extra++ // the backslash of the escape
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
			extra++
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	w.extra = extra
	b = append(b, s[start:]...)
	return append(b, '"')
}
