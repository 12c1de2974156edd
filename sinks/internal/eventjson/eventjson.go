// Package eventjson writes an audit event as JSON: protojson's output with
// the zero MarshalOptions, compacted, byte for byte, several times faster.
// It is the S3 archive's line for an event and the Datadog log's message.
package eventjson

import (
	"math"
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
	b           []byte
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
	w.b, w.ok, w.more, w.extra = append(b, '{'), true, false, 0
	w.str("id", ev.GetId())
	w.str("projectId", ev.GetProjectId())
	w.str("action", ev.GetAction())
	w.str("type", ev.GetType())
	w.str("actorId", ev.GetActorId())
	w.str("userId", ev.GetUserId())
	w.strs("loginIds", ev.GetLoginIds())
	w.strs("tenants", ev.GetTenants())
	w.str("remoteAddress", ev.GetRemoteAddress())
	if t := ev.GetOccurred(); t != nil {
		w.name("occurred")
		w.timestamp(t)
	}
	w.str("device", ev.GetDevice())
	w.str("method", ev.GetMethod())
	w.str("geo", ev.GetGeo())
	w.strs("externalIds", ev.GetExternalIds())
	if d := ev.GetData(); d != nil {
		w.name("data")
		w.object(d, 1)
	}
	w.b = append(w.b, '}')
	b, w.b = w.b, nil
	return b, w.ok
}

// name starts a member of the open object.
func (w *Writer) name(n string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.quote(n)
	w.b = append(w.b, ':')
}

// str writes a string field, unless it is empty.
func (w *Writer) str(name, v string) {
	if v != "" {
		w.name(name)
		w.quote(v)
	}
}

// strs writes a repeated string field, unless it is empty.
func (w *Writer) strs(name string, vs []string) {
	if len(vs) == 0 {
		return
	}
	w.name(name)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.quote(v)
	}
	w.b = append(w.b, ']')
}

// timestamp writes t as protojson does. Out of protojson's range, it
// leaves t to protojson.
func (w *Writer) timestamp(t *timestamppb.Timestamp) {
	const minSeconds, maxSeconds = -62135596800, 253402300799 // 0001-01-01, 9999-12-31T23:59:59
	secs, nanos := t.GetSeconds(), int64(t.GetNanos())
	if secs < minSeconds || secs > maxSeconds || nanos < 0 || nanos >= 1e9 {
		w.ok = false
		return
	}
	w.b = append(w.b, '"')
	w.extra += 2 // the quotes, escaped
	w.b = time.Unix(secs, nanos).UTC().AppendFormat(w.b, "2006-01-02T15:04:05")
	if nanos != 0 {
		digits := 9
		for digits > 3 && nanos%1000 == 0 {
			nanos /= 1000
			digits -= 3
		}
		w.b = append(w.b, '.')
		w.b = appendPadded(w.b, nanos, digits)
	}
	w.b = append(w.b, 'Z', '"')
}

// appendPadded appends v in decimal with leading zeros to digits digits.
func appendPadded(b []byte, v int64, digits int) []byte {
	var d [9]byte
	for i := digits - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:digits]...)
}

// object writes a Struct, its keys sorted as protojson sorts them.
func (w *Writer) object(s *structpb.Struct, depth int) {
	if depth > MaxNesting {
		w.ok = false
		return
	}
	start := len(w.keys)
	for k := range s.GetFields() {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys[start:])
	w.b = append(w.b, '{')
	w.more = false
	// Nested objects append to w.keys, which may move: index it afresh.
	for i := start; i < len(w.keys) && w.ok; i++ {
		k := w.keys[i]
		w.name(k)
		w.value(s.GetFields()[k], depth)
	}
	w.keys = w.keys[:start]
	w.b = append(w.b, '}')
	w.more = true
}

// value writes a Value.
func (w *Writer) value(v *structpb.Value, depth int) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		w.b = append(w.b, "null"...)
	case *structpb.Value_BoolValue:
		w.b = strconv.AppendBool(w.b, k.BoolValue)
	case *structpb.Value_StringValue:
		w.quote(k.StringValue)
	case *structpb.Value_NumberValue:
		w.number(k.NumberValue)
	case *structpb.Value_StructValue:
		if k.StructValue == nil {
			w.ok = false
			return
		}
		w.object(k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		if k.ListValue == nil || depth+1 > MaxNesting {
			w.ok = false
			return
		}
		w.b = append(w.b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e, depth+1)
		}
		w.b = append(w.b, ']')
		w.more = true
	default: // no kind, or a nil Value: protojson's error
		w.ok = false
	}
}

// number writes a finite float64 as protojson does (its appendFloat, after
// encoding/json): %f between 1e-6 and 1e21, else %e with a one-digit
// exponent when it fits. NaN and infinities are protojson's errors.
func (w *Writer) number(n float64) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		w.ok = false
		return
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, n, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7.
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
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

// quote writes s as a JSON string the way protojson escapes it: '"', '\'
// and control characters only, \b \f \n \r \t by name, the others as
// \u00XX. Invalid UTF-8 is protojson's error. It adds to w.extra what
// encoding/json will add to the bytes written: a backslash before each '"'
// and '\', \u00XX for <, > and & (five more), \u2028 and \u2029 for those
// characters (three more).
func (w *Writer) quote(s string) {
	const hex = "0123456789abcdef"
	w.b = append(w.b, '"')
	w.extra += 2
	start := 0
	for i := 0; i < len(s); {
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
				return
			}
			if r == '\u2028' || r == '\u2029' {
				w.extra += 3
			}
			i += n
			continue
		case c == '<' || c == '>' || c == '&':
			w.extra += 5
			i++
			continue
		}
		w.b = append(w.b, s[start:i]...)
		w.extra++ // the backslash of the escape
		switch c {
		case '"', '\\':
			w.b = append(w.b, '\\', c)
			w.extra++
		case '\b':
			w.b = append(w.b, '\\', 'b')
		case '\f':
			w.b = append(w.b, '\\', 'f')
		case '\n':
			w.b = append(w.b, '\\', 'n')
		case '\r':
			w.b = append(w.b, '\\', 'r')
		case '\t':
			w.b = append(w.b, '\\', 't')
		default:
			w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}
