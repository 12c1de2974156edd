package record

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ScanJSON reads the head of a JSON event, and checks that the rest of the
// value decodes, without building it: a *DecodeError when
// Unmarshal(value, ContentTypeJSON) would fail, and only then. Head.Unknown
// says what UnmarshalJSON's unknown says. It is ScanProtobuf for JSON.
//
// The scan takes on the common forms only: it accepts a value when it is
// sure protojson does too, and hands anything else to the full decoder
// (UnmarshalJSON), which accepts or rejects it. So it never accepts more
// than the decoder, and never less; an invalid value costs a scan and a
// decode. Handed over: escapes in a field name, a data key or occurred, a
// field name in brackets (an extension's), numbers in data that may not
// fit a double, nesting deeper than maxJSONDepth, and every error.
//
// The head's strings share one copy of their bytes, not the value.
func ScanJSON(value []byte) (Head, error) {
	var s scan
	if s.json(value) {
		return s.head(), nil
	}
	ev, unknown, err := UnmarshalJSON(value)
	if err != nil {
		return Head{}, err
	}
	h := HeadOf(ev)
	h.Unknown = unknown
	return h, nil
}

// maxJSONDepth is how deeply nested objects and arrays the scan follows;
// protojson goes much deeper, and the decoder is asked about the rest.
const maxJSONDepth = 64

// smallObject is how many keys of a data object the scan compares
// pairwise; beyond, it keeps them in a map.
const smallObject = 16

// jsonScan is where the scan is in a JSON value.
type jsonScan struct {
	b []byte
	i int
}

// json scans an event; false means "ask the decoder".
func (s *scan) json(b []byte) bool {
	d := jsonScan{b: b}
	unknown, ok := d.event(func(num uint) bool { return s.field(&d, num) })
	s.unknown = unknown
	return ok
}

// event reads an event's object, handing the value of each Event field it
// names to field, by number, and skipping unknown fields, and reports
// whether it met any. false means "ask the decoder". The whole value must
// be the object, with blanks around it.
func (d *jsonScan) event(field func(num uint) bool) (unknown, ok bool) {
	d.space()
	if !d.eat('{') {
		return false, false
	}
	var seen uint32 // the field numbers met: protojson refuses a field twice
	ok = d.sequence('}', func() bool {
		name, ok := d.plainString()
		if !ok || !d.colon() {
			return false
		}
		num := eventField(name)
		switch {
		case num == 0 && len(name) > 0 && name[0] == '[':
			return false // an extension's name: the decoder resolves it
		case num == 0:
			unknown = true
			return d.value(0, false)
		case seen&(1<<num) != 0:
			return false
		}
		seen |= 1 << num
		return field(num)
	})
	d.space()
	return unknown, ok && d.i == len(d.b)
}

// sequence reads the elements of an array or the members of an object, d
// being just past its '[' or '{': each is read by elem, and they are
// separated by commas, up to end (']' or '}').
func (d *jsonScan) sequence(end byte, elem func() bool) bool {
	d.space()
	if d.eat(end) {
		return true
	}
	for {
		if !elem() {
			return false
		}
		d.space()
		if d.eat(end) {
			return true
		}
		if !d.eat(',') {
			return false
		}
		d.space()
	}
}

// eventField returns the number of the Event field a JSON name (its JSON
// name or its proto name, as protojson takes both) stands for, or 0.
func eventField(name []byte) uint {
	switch string(name) {
	case "id":
		return 1
	case "projectId", "project_id":
		return 2
	case "action":
		return 3
	case "type":
		return 4
	case "actorId", "actor_id":
		return 5
	case "userId", "user_id":
		return 6
	case "loginIds", "login_ids":
		return 7
	case "tenants":
		return 8
	case "remoteAddress", "remote_address":
		return 9
	case "occurred":
		return 10
	case "device":
		return 11
	case "method":
		return 12
	case "geo":
		return 13
	case "externalIds", "external_ids":
		return 14
	case "data":
		return 15
	}
	return 0
}

// field scans the value of Event field num. A null leaves any field unset.
func (s *scan) field(d *jsonScan, num uint) bool {
	if d.literal("null") {
		return true
	}
	switch num {
	case 1, 2, 3, 4:
		v, ok := d.text()
		switch num {
		case 1:
			s.id = v
		case 2:
			s.project = v
		case 3:
			s.action = v
		case 4:
			s.typ = v
		}
		return ok
	case 7, 8, 14:
		return s.stringArray(d, num == 8)
	case 10:
		v, ok := d.plainString()
		if !ok {
			return false
		}
		s.occurred = true
		s.seconds, s.nanos, ok = parseTimestamp(v)
		return ok
	case 15:
		return d.peek() == '{' && d.value(0, true)
	default:
		return d.string()
	}
}

// stringArray scans an array of strings, keeping them as tenants when
// tenants is true.
func (s *scan) stringArray(d *jsonScan, tenants bool) bool {
	if !d.eat('[') {
		return false
	}
	return d.sequence(']', func() bool {
		if !tenants {
			return d.string()
		}
		v, ok := d.text()
		if !ok {
			return false
		}
		if s.ntenants < len(s.tenants) {
			s.tenants[s.ntenants] = v
		} else {
			s.more = append(s.more, v)
		}
		s.ntenants++
		return true
	})
}

// parseTimestamp is protojson's reading of a Timestamp, on a string
// without escapes.
func parseTimestamp(v []byte) (seconds int64, nanos int32, ok bool) {
	s := string(v)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, 0, false
	}
	secs := t.Unix()
	if secs < minSeconds || secs > maxSeconds {
		return 0, 0, false
	}
	i := strings.LastIndexByte(s, '.')
	j := strings.LastIndexAny(s, "Z-+")
	if i >= 0 && j >= i && j-i > len(".999999999") {
		return 0, 0, false
	}
	return secs, int32(t.Nanosecond()), true
}

func (d *jsonScan) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\n', '\r', '\t':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonScan) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *jsonScan) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// colon reads the ':' after a name, and the blanks around it.
func (d *jsonScan) colon() bool {
	d.space()
	if !d.eat(':') {
		return false
	}
	d.space()
	return true
}

// literal reads lit (null, true, false) when it is next. What follows is
// checked by the caller, which wants a delimiter.
func (d *jsonScan) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// plainString reads a string without escapes and returns its content.
func (d *jsonScan) plainString() ([]byte, bool) {
	start := d.i + 1
	if escaped, ok := d.quoted(); !ok || escaped {
		return nil, false
	}
	return d.b[start : d.i-1], true
}

// text reads a string and returns its content, unescaped.
func (d *jsonScan) text() ([]byte, bool) {
	start := d.i + 1
	escaped, ok := d.quoted()
	if !ok {
		return nil, false
	}
	v := d.b[start : d.i-1]
	if escaped {
		v = unescape(v)
	}
	return v, true
}

// unescape returns a string's content with its escapes, which quoted has
// checked, replaced by what they stand for.
func unescape(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); {
		if v[i] != '\\' {
			out = append(out, v[i])
			i++
			continue
		}
		switch c := v[i+1]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(v[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(v[i+2:])
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, c)
		}
		i += 2
	}
	return out
}

// string reads a string.
func (d *jsonScan) string() bool {
	_, ok := d.quoted()
	return ok
}

// quoted reads a string as protojson does: valid UTF-8, no control
// characters, and valid escapes (a surrogate only in a pair). It reports
// whether the string had escapes.
func (d *jsonScan) quoted() (escaped, ok bool) {
	if !d.eat('"') {
		return false, false
	}
	b := d.b
	i := d.i + plainRun(b[d.i:])
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return escaped, true
		case c == '\\':
			n := escape(b[i:])
			if n == 0 {
				return false, false
			}
			i += n
			escaped = true
		case c < ' ':
			return false, false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return false, false
			}
			i += n
		default:
			i++
		}
		i += plainRun(b[i:])
	}
	return false, false
}

// escape returns the length of the valid escape b starts with, or 0.
func escape(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		r, ok := hex4(b[2:])
		switch {
		case !ok || r >= 0xdc00 && r <= 0xdfff:
			return 0
		case r < 0xd800 || r > 0xdbff:
			return 6
		}
		// A high surrogate, which a low one must follow.
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		if r, ok := hex4(b[8:]); !ok || r < 0xdc00 || r > 0xdfff {
			return 0
		}
		return 12
	}
	return 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// plainRun returns how many bytes b starts with that a string holds as
// they are: printable ASCII other than '"' and '\', 8 at a time.
func plainRun(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	n := 0
	for len(b)-n >= 8 {
		x := binary.LittleEndian.Uint64(b[n:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// A byte below 0x20, a zero byte of q or bs (a '"' or a '\' in
		// x), or a byte from 0x80 on.
		special := (x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs | x
		if special&highs != 0 {
			break
		}
		n += 8
	}
	for n < len(b) {
		if c := b[n]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
		n++
	}
	return n
}

// value reads any JSON value. In data (inData), a value is a
// google.protobuf.Value: an object is a Struct, whose keys protojson
// refuses twice, and a number must fit a double. Elsewhere (an unknown
// field, discarded) only the syntax counts.
func (d *jsonScan) value(depth int, inData bool) bool {
	switch c := d.peek(); {
	case c == '"':
		return d.string()
	case c == '{':
		if depth >= maxJSONDepth {
			return false
		}
		return d.object(depth+1, inData)
	case c == '[':
		if depth >= maxJSONDepth {
			return false
		}
		return d.array(depth+1, inData)
	case c == '-' || c >= '0' && c <= '9':
		return d.number(inData)
	}
	return d.literal("null") || d.literal("true") || d.literal("false")
}

func (d *jsonScan) object(depth int, inData bool) bool {
	d.i++ // '{'
	var keys [smallObject][]byte
	var many map[string]struct{}
	n := 0
	return d.sequence('}', func() bool {
		k, ok := d.plainString()
		if !ok || !d.colon() {
			return false
		}
		switch {
		case !inData:
		case n < len(keys):
			for _, seen := range keys[:n] {
				if string(seen) == string(k) {
					return false
				}
			}
			keys[n] = k
			n++
		default:
			if many == nil {
				many = make(map[string]struct{}, 2*len(keys))
				for _, seen := range keys {
					many[string(seen)] = struct{}{}
				}
			}
			if _, dup := many[string(k)]; dup {
				return false
			}
			many[string(k)] = struct{}{}
		}
		return d.value(depth, inData)
	})
}

func (d *jsonScan) array(depth int, inData bool) bool {
	d.i++ // '['
	return d.sequence(']', func() bool { return d.value(depth, inData) })
}

// number reads a number of strict JSON syntax. In data it must also be a
// double (strconv.ParseFloat, as protojson reads it): an integer of up to
// 15 digits is one without asking.
func (d *jsonScan) number(inData bool) bool {
	b, i := d.b, d.i
	digits := func() int {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	simple := i-d.i <= 16
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
		simple = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
		simple = false
	}
	if inData && !simple {
		if _, err := strconv.ParseFloat(string(b[d.i:i]), 64); err != nil {
			return false
		}
	}
	d.i = i
	return true
}
