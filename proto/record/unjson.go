package record

import (
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// This file decodes an Event from JSON by hand, on the forms ScanJSON takes
// on (scanjson.go) and by the same rules; everything else, errors
// included, is left to protojson. protojson spends most of an event's
// decoding time in its generic reflection over the data field, and
// allocates every string and every token on its own.
//
// The result is what protojson gives (jsonIn, which discards unknown
// fields), field by field; TestScanJSONAgreesWithUnmarshal and
// FuzzScanJSON hold the two together. As in unwire.go, every string that
// has no escapes is a slice of one copy of the value: a string kept after
// its event keeps that copy alive.
//
// A new field in event.proto must be added here and to eventField:
// TestUnjsonCoversEveryField fails until it is.

// unmarshalJSONEvent decodes b into a new event and reports whether it met
// unknown fields. ok false means "ask protojson": b may still be valid.
func unmarshalJSONEvent(b []byte) (ev *auditv1.Event, unknown, ok bool) {
	d := jsonDecoder{jsonScan: jsonScan{b: b}, s: string(b)}
	// One allocation for the event and the two messages that nearly every
	// event has.
	a := new(struct {
		ev   auditv1.Event
		ts   timestamppb.Timestamp
		data structpb.Struct
	})
	unknown, ok = d.event(func(num uint) bool { return d.field(num, &a.ev, &a.ts, &a.data) })
	if !ok {
		return nil, false, false
	}
	return &a.ev, unknown, true
}

// jsonDecoder is a jsonScan that keeps what it reads.
type jsonDecoder struct {
	jsonScan
	s string // a copy of b, of which the strings without escapes are slices
}

// field decodes the value of Event field num into ev. ts and data are the
// messages occurred and data get when they are set. A null leaves any field
// unset, as protojson does.
func (d *jsonDecoder) field(num uint, ev *auditv1.Event, ts *timestamppb.Timestamp, data *structpb.Struct) bool {
	if d.literal("null") {
		return true
	}
	var ok bool
	switch num {
	case 1:
		ev.Id, ok = d.text()
	case 2:
		ev.ProjectId, ok = d.text()
	case 3:
		ev.Action, ok = d.text()
	case 4:
		ev.Type, ok = d.text()
	case 5:
		ev.ActorId, ok = d.text()
	case 6:
		ev.UserId, ok = d.text()
	case 7:
		ev.LoginIds, ok = d.texts()
	case 8:
		ev.Tenants, ok = d.texts()
	case 9:
		ev.RemoteAddress, ok = d.text()
	case 10:
		var v []byte
		if v, ok = d.plainString(); ok {
			ts.Seconds, ts.Nanos, ok = parseTimestamp(v)
			ev.Occurred = ts
		}
	case 11:
		ev.Device, ok = d.text()
	case 12:
		ev.Method, ok = d.text()
	case 13:
		ev.Geo, ok = d.text()
	case 14:
		ev.ExternalIds, ok = d.texts()
	case 15:
		if d.peek() == '{' {
			ev.Data, ok = data, d.structFields(data, 0)
		}
	}
	return ok
}

// text reads a string and returns its content, unescaped.
func (d *jsonDecoder) text() (string, bool) {
	start := d.i + 1
	escaped, ok := d.quoted()
	switch {
	case !ok:
		return "", false
	case escaped:
		return string(unescape(d.b[start : d.i-1])), true
	}
	return d.s[start : d.i-1], true
}

// texts reads an array of strings. An empty array leaves the field unset,
// as protojson does (an empty list and no list are one thing in proto3).
func (d *jsonDecoder) texts() ([]string, bool) {
	if !d.eat('[') {
		return nil, false
	}
	var out []string
	ok := d.sequence(']', func() bool {
		v, ok := d.text()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// structFields reads a JSON object, which d is at, into s: a
// google.protobuf.Struct, whose keys protojson refuses twice. depth counts
// the objects and arrays around it, as jsonScan.value does.
func (d *jsonDecoder) structFields(s *structpb.Struct, depth int) bool {
	if depth >= maxJSONDepth {
		return false
	}
	d.i++ // '{'
	return d.sequence('}', func() bool {
		start := d.i + 1
		k, ok := d.plainString()
		if !ok || !d.colon() {
			return false
		}
		key := d.s[start : start+len(k)]
		if _, dup := s.Fields[key]; dup {
			return false
		}
		v, ok := d.dataValue(depth + 1)
		if s.Fields == nil {
			s.Fields = make(map[string]*structpb.Value)
		}
		s.Fields[key] = v
		return ok
	})
}

// dataValue reads a google.protobuf.Value.
func (d *jsonDecoder) dataValue(depth int) (*structpb.Value, bool) {
	switch c := d.peek(); {
	case c == '"':
		s, ok := d.text()
		return &structpb.Value{Kind: &structpb.Value_StringValue{StringValue: s}}, ok
	case c == '{':
		s := new(structpb.Struct)
		return &structpb.Value{Kind: &structpb.Value_StructValue{StructValue: s}}, d.structFields(s, depth)
	case c == '[':
		l := new(structpb.ListValue)
		return &structpb.Value{Kind: &structpb.Value_ListValue{ListValue: l}}, d.list(l, depth)
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		if !d.number(true) {
			return nil, false
		}
		// The scan has checked that the number is a double.
		f, err := strconv.ParseFloat(d.s[start:d.i], 64)
		return &structpb.Value{Kind: &structpb.Value_NumberValue{NumberValue: f}}, err == nil
	case d.literal("null"):
		return &structpb.Value{Kind: &structpb.Value_NullValue{}}, true
	case d.literal("true"):
		return &structpb.Value{Kind: &structpb.Value_BoolValue{BoolValue: true}}, true
	case d.literal("false"):
		return &structpb.Value{Kind: &structpb.Value_BoolValue{}}, true
	}
	return nil, false
}

// list reads a JSON array, which d is at, into l.
func (d *jsonDecoder) list(l *structpb.ListValue, depth int) bool {
	if depth >= maxJSONDepth {
		return false
	}
	d.i++ // '['
	return d.sequence(']', func() bool {
		v, ok := d.dataValue(depth + 1)
		l.Values = append(l.Values, v)
		return ok
	})
}
