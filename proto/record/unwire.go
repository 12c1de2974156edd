package record

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// This file decodes an Event from protobuf binary by hand, the other half of
// wire.go. proto.Unmarshal spends most of an event's decoding time in the
// data field, through its generic map and oneof code, and allocates every
// string on its own.
//
// The result is what proto.Unmarshal gives, field by field:
//   - a singular field seen twice keeps the last value; a message field seen
//     twice (occurred, data, a Value's struct or list) is merged, so a
//     Struct's entries are added to, a later key replacing an earlier one;
//   - a repeated field appends; a map entry without a value gets an empty
//     Value, and without a key the key "";
//   - a known field number with an unexpected wire type is an unknown field;
//     unknown fields are kept in their message in the order they came, their
//     tag re-encoded as proto.Unmarshal does, except inside a map entry,
//     where proto.Unmarshal drops them and so does this;
//   - strings must be valid UTF-8, map keys included (proto3).
//
// One difference that proto.Equal cannot see: every decoded string is a
// slice of one copy of the value, where proto.Unmarshal allocates each. A
// string kept after its event keeps that copy alive.
//
// Anything else is left to proto.Unmarshal: an invalid value (for
// proto.Unmarshal's error) and data nested deeper than maxNesting.
//
// A new field in event.proto must be added here too:
// TestUnwireCoversEveryField fails until it is.

// unwireResult says how unmarshalEvent went.
type unwireResult int

const (
	unwireOK      unwireResult = iota
	unwireInvalid              // proto.Unmarshal rejects the value
	unwireDeep                 // the data is nested deeper than maxNesting
)

// unmarshalEvent decodes b into a new event. The event is nil unless the
// result is unwireOK.
func unmarshalEvent(b []byte) (*auditv1.Event, unwireResult) {
	d := decoder{b: b, s: string(b)}
	// One allocation for the event and the two messages that nearly every
	// event has.
	a := new(struct {
		ev   auditv1.Event
		ts   timestamppb.Timestamp
		data structpb.Struct
	})
	if r := d.event(b, &a.ev, &a.ts, &a.data); r != unwireOK {
		return nil, r
	}
	return &a.ev, unwireOK
}

// decoder holds the value being decoded. Its methods take sub-slices of b,
// which keep b's capacity, so that a sub-slice's offset in b is the
// difference of the capacities.
type decoder struct {
	b []byte
	s string // a copy of b, of which the decoded strings are slices
}

// str returns v, a sub-slice of d.b, as a string that shares d.s.
func (d *decoder) str(v []byte) string {
	i := cap(d.b) - cap(v)
	return d.s[i : i+len(v)]
}

// validStr is str for a proto3 string, which must be valid UTF-8.
func (d *decoder) validStr(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	return d.str(v), true
}

// consumeVarint is protowire.ConsumeVarint with the one-byte case inlined.
func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeTag reads a field's tag. n is negative for what proto.Unmarshal
// rejects wherever it appears in these messages: a bad varint, a field
// number out of range. An end-group tag is rejected too, by skipField: none
// of these messages is a group, and a group in an unknown field is consumed
// whole by skipField.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	v, n := consumeVarint(b)
	if n < 0 {
		return 0, 0, n
	}
	if v>>3 < uint64(protowire.MinValidNumber) || v>>3 > uint64(protowire.MaxValidNumber) {
		return 0, 0, -1
	}
	return protowire.Number(v >> 3), protowire.Type(v & 7), n
}

// consumeBytes reads a length-delimited field's content, as a sub-slice of
// b with b's capacity.
func consumeBytes(b []byte) ([]byte, int) {
	m, n := consumeVarint(b)
	if n < 0 || m > uint64(len(b)-n) {
		return nil, -1
	}
	return b[n : n+int(m)], n + int(m)
}

// skipField consumes an unknown field's value (after its tag) and appends
// the field to m's unknown fields, unless m is nil. n is negative when the
// value is invalid, an end-group tag or a reserved wire type included.
func skipField(m protoreflect.ProtoMessage, num protowire.Number, typ protowire.Type, b []byte) (n int) {
	n = protowire.ConsumeFieldValue(num, typ, b)
	if n >= 0 && m != nil {
		r := m.ProtoReflect()
		r.SetUnknown(appendUnknown(r.GetUnknown(), num, typ, b[:n]))
	}
	return n
}

// appendUnknown appends an unknown field to u, its tag re-encoded as
// proto.Unmarshal re-encodes it.
func appendUnknown(u []byte, num protowire.Number, typ protowire.Type, value []byte) []byte {
	u = protowire.AppendTag(u, num, typ)
	return append(u, value...)
}

// event decodes an Event's fields from b into ev; ts and data are where
// occurred and data go when the event has them.
func (d *decoder) event(b []byte, ev *auditv1.Event, ts *timestamppb.Timestamp, data *structpb.Struct) unwireResult {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if typ == protowire.BytesType && num <= 15 {
			v, n := consumeBytes(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			switch num {
			case 10:
				if ev.Occurred == nil {
					ev.Occurred = ts
				}
				if !d.timestamp(v, ev.Occurred) {
					return unwireInvalid
				}
				continue
			case 15:
				if ev.Data == nil {
					ev.Data = data
				}
				if r := d.structFields(v, ev.Data, 0); r != unwireOK {
					return r
				}
				continue
			}
			s, ok := d.validStr(v)
			if !ok {
				return unwireInvalid
			}
			switch num {
			case 1:
				ev.Id = s
			case 2:
				ev.ProjectId = s
			case 3:
				ev.Action = s
			case 4:
				ev.Type = s
			case 5:
				ev.ActorId = s
			case 6:
				ev.UserId = s
			case 7:
				ev.LoginIds = append(ev.LoginIds, s)
			case 8:
				ev.Tenants = append(ev.Tenants, s)
			case 9:
				ev.RemoteAddress = s
			case 11:
				ev.Device = s
			case 12:
				ev.Method = s
			case 13:
				ev.Geo = s
			case 14:
				ev.ExternalIds = append(ev.ExternalIds, s)
			}
			continue
		}
		// Not a field of the Event, or a field with another wire type.
		n = skipField(ev, num, typ, b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// timestamp merges a Timestamp's fields from b into t.
func (d *decoder) timestamp(b []byte, t *timestamppb.Timestamp) bool {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := consumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if num == 1 {
				t.Seconds = int64(v)
			} else {
				t.Nanos = int32(v)
			}
			continue
		}
		n = skipField(t, num, typ, b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// structFields merges a Struct's fields from b into s; depth counts the
// Structs and lists around it.
func (d *decoder) structFields(b []byte, s *structpb.Struct, depth int) unwireResult {
	var vals []structpb.Value // the values of the entries, allocated together
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			e, n := consumeBytes(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			if s.Fields == nil {
				c := countEntries(b) + 1
				s.Fields = make(map[string]*structpb.Value, c)
				vals = make([]structpb.Value, c)
			}
			var val *structpb.Value
			if len(vals) > 0 {
				val, vals = &vals[0], vals[1:]
			} else {
				val = new(structpb.Value) // a second data field, merged
			}
			if r := d.entry(e, s.Fields, val, depth); r != unwireOK {
				return r
			}
			continue
		}
		n = skipField(s, num, typ, b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// countEntries counts the map entries (field 1, length-delimited) that
// follow in a Struct, for the map's size: a hint only, so it stops at the
// first field it cannot read.
func countEntries(b []byte) int {
	c := 0
	for len(b) > 0 {
		v, n := consumeVarint(b)
		if n < 0 || v&7 != uint64(protowire.BytesType) {
			break
		}
		if v>>3 == 1 {
			c++
		}
		_, m := consumeBytes(b[n:])
		if m < 0 {
			break
		}
		b = b[n+m:]
	}
	return c
}

// entry decodes a map entry of a Struct from b into fields, with val, a
// new Value, as its value even when the entry has none. Several values in
// one entry merge; unknown fields are dropped.
func (d *decoder) entry(b []byte, fields map[string]*structpb.Value, val *structpb.Value, depth int) unwireResult {
	var key string
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			v, n := consumeBytes(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			if num == 1 {
				var ok bool
				if key, ok = d.validStr(v); !ok {
					return unwireInvalid
				}
			} else if r := d.value(v, val, depth); r != unwireOK {
				return r
			}
			continue
		}
		n = skipField(nil, num, typ, b) // dropped, as proto.Unmarshal drops it
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	fields[key] = val
	return unwireOK
}

// value merges a Value's fields from b into v. A field of the kind that v
// already holds merges into it (a Struct or a list) or replaces it; a field
// of another kind replaces the kind.
func (d *decoder) value(b []byte, v *structpb.Value, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 4) && typ == protowire.VarintType:
			x, n := consumeVarint(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			if num == 1 {
				v.Kind = &structpb.Value_NullValue{NullValue: structpb.NullValue(int32(x))}
			} else {
				v.Kind = &structpb.Value_BoolValue{BoolValue: x != 0}
			}
			continue
		case num == 2 && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			v.Kind = &structpb.Value_NumberValue{NumberValue: math.Float64frombits(x)}
			continue
		case num >= 3 && num <= 6 && num != 4 && typ == protowire.BytesType:
			c, n := consumeBytes(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			switch num {
			case 3:
				s, ok := d.validStr(c)
				if !ok {
					return unwireInvalid
				}
				v.Kind = &structpb.Value_StringValue{StringValue: s}
			case 5:
				if depth >= maxNesting {
					return unwireDeep
				}
				k, ok := v.Kind.(*structpb.Value_StructValue)
				if !ok {
					k = new(structpb.Value_StructValue)
				}
				if k.StructValue == nil {
					k.StructValue = new(structpb.Struct)
				}
				if r := d.structFields(c, k.StructValue, depth+1); r != unwireOK {
					return r
				}
				v.Kind = k
			case 6:
				if depth >= maxNesting {
					return unwireDeep
				}
				k, ok := v.Kind.(*structpb.Value_ListValue)
				if !ok {
					k = new(structpb.Value_ListValue)
				}
				if k.ListValue == nil {
					k.ListValue = new(structpb.ListValue)
				}
				if r := d.list(c, k.ListValue, depth+1); r != unwireOK {
					return r
				}
				v.Kind = k
			}
			continue
		}
		n = skipField(v, num, typ, b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// list merges a ListValue's fields from b into l: its values are appended.
func (d *decoder) list(b []byte, l *structpb.ListValue, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			c, n := consumeBytes(b)
			if n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			v := new(structpb.Value)
			if r := d.value(c, v, depth); r != unwireOK {
				return r
			}
			l.Values = append(l.Values, v)
			continue
		}
		n = skipField(l, num, typ, b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}
