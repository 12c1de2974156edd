package record

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// This file encodes an Event in protobuf binary by hand. proto.Marshal spends
// most of an event's encoding time in the data field: it walks the Struct's
// map through reflection, allocating as it goes. Writing the few known
// message types directly takes about a third of the time, and producing is
// the hot path of the SDK.
//
// The output is what proto.Marshal writes: fields in number order, unset
// proto3 scalars left out, map entries with both key and value, nil messages
// inside maps, lists and oneofs as empty ones, unknown fields kept at the end
// of their message. Map entries come in Go's map order, as with proto.Marshal
// (which is not deterministic either). Two cases are left to proto.Marshal:
// an event with invalid UTF-8 in a string, for proto.Marshal's error, and
// data nested deeper than maxNesting (see appendValue).
//
// A new field in event.proto must be added here too: TestWireCoversEveryField
// fails until it is.

// Tags of the fields written here: field number << 3 | wire type, all one
// byte.
const (
	tagBytes  = byte(protowire.BytesType)
	tagVarint = byte(protowire.VarintType)
	tagFixed  = byte(protowire.Fixed64Type)

	eventOccurred = 10<<3 | tagBytes
	eventData     = 15<<3 | tagBytes

	timestampSeconds = 1<<3 | tagVarint
	timestampNanos   = 2<<3 | tagVarint

	structFields = 1<<3 | tagBytes // a map entry
	entryKey     = 1<<3 | tagBytes
	entryValue   = 2<<3 | tagBytes

	valueNull   = 1<<3 | tagVarint
	valueNumber = 2<<3 | tagFixed
	valueString = 3<<3 | tagBytes
	valueBool   = 4<<3 | tagVarint
	valueStruct = 5<<3 | tagBytes
	valueList   = 6<<3 | tagBytes

	listValues = 1<<3 | tagBytes
)

// appendEvent appends ev's encoding to b. ok is false when the event is for
// proto.Marshal to encode: a string is not valid UTF-8, or the data is
// nested too deep.
//
// It writes in one pass: a nested message's length is written after its
// content (see endNested), rather than computed beforehand by walking the
// content twice, maps included.
//
// The appends pass the slice in and out rather than through a pointer: a
// slice stored through a pointer costs a write barrier whenever the garbage
// collector is running.
func appendEvent(b []byte, ev *auditv1.Event) (_ []byte, ok bool) {
	bad := false
	b = appendStr(b, 1, ev.Id, &bad)
	b = appendStr(b, 2, ev.ProjectId, &bad)
	b = appendStr(b, 3, ev.Action, &bad)
	b = appendStr(b, 4, ev.Type, &bad)
	b = appendStr(b, 5, ev.ActorId, &bad)
	b = appendStr(b, 6, ev.UserId, &bad)
	b = appendStrs(b, 7, ev.LoginIds, &bad)
	b = appendStrs(b, 8, ev.Tenants, &bad)
	b = appendStr(b, 9, ev.RemoteAddress, &bad)
	if t := ev.Occurred; t != nil {
		b = append(b, eventOccurred, 0)
		mark := len(b) - 1
		if t.Seconds != 0 {
			b = append(b, timestampSeconds)
			b = appendVarint(b, uint64(t.Seconds))
		}
		if t.Nanos != 0 {
			b = append(b, timestampNanos)
			b = appendVarint(b, uint64(int64(t.Nanos)))
		}
		b = append(b, t.ProtoReflect().GetUnknown()...)
		b = endNested(b, mark)
	}
	b = appendStr(b, 11, ev.Device, &bad)
	b = appendStr(b, 12, ev.Method, &bad)
	b = appendStr(b, 13, ev.Geo, &bad)
	b = appendStrs(b, 14, ev.ExternalIds, &bad)
	if ev.Data != nil {
		b = append(b, eventData, 0)
		mark := len(b) - 1
		b = appendStruct(b, ev.Data, 0, &bad)
		b = endNested(b, mark)
	}
	b = append(b, ev.ProtoReflect().GetUnknown()...)
	return b, !bad
}

// endNested writes the length of the nested message that follows b[mark],
// a one-byte placeholder, into the placeholder. A length of 128 or more
// takes a varint of two bytes or more: the content moves right to make
// room, which costs less than sizing every message before writing it.
func endNested(b []byte, mark int) []byte {
	n := len(b) - mark - 1
	if n < 0x80 {
		b[mark] = byte(n)
		return b
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	b = append(b, make([]byte, extra)...)
	copy(b[mark+1+extra:], b[mark+1:mark+1+n])
	protowire.AppendVarint(b[:mark], uint64(n))
	return b
}

func appendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

// appendBytesField appends a length-delimited field of a one-byte tag, and
// sets *bad when s is not valid UTF-8.
func appendBytesField(b []byte, tag byte, s string, bad *bool) []byte {
	if !utf8.ValidString(s) {
		*bad = true
	}
	b = append(b, tag)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendStr appends a proto3 string field of the Event, left out when empty.
func appendStr(b []byte, num protowire.Number, s string, bad *bool) []byte {
	if s == "" {
		return b
	}
	return appendBytesField(b, byte(num)<<3|tagBytes, s, bad)
}

// appendStrs appends a repeated string field of the Event.
func appendStrs(b []byte, num protowire.Number, ss []string, bad *bool) []byte {
	for _, s := range ss {
		b = appendBytesField(b, byte(num)<<3|tagBytes, s, bad)
	}
	return b
}

// appendStruct appends a Struct's content (without tag and length); depth
// counts the Structs and lists around it.
func appendStruct(b []byte, s *structpb.Struct, depth int, bad *bool) []byte {
	for k, v := range s.GetFields() {
		b = append(b, structFields, 0)
		entry := len(b) - 1
		b = appendBytesField(b, entryKey, k, bad)
		b = append(b, entryValue, 0)
		value := len(b) - 1
		b = appendValue(b, v, depth, bad)
		b = endNested(b, value)
		b = endNested(b, entry)
	}
	if s != nil {
		b = append(b, s.ProtoReflect().GetUnknown()...)
	}
	return b
}

// maxNesting is the deepest data appendValue writes. Each level may move
// what it holds to make room for its length (endNested), so the time to
// write data grows with its size times its depth: audit data is shallow,
// and anything deeper than this (say, a crafted record) goes to
// proto.Marshal, whose time does not depend on the depth.
const maxNesting = 32

// appendValue appends a Value's content; depth counts the Structs and lists
// around it.
func appendValue(b []byte, v *structpb.Value, depth int, bad *bool) []byte {
	if v == nil {
		return b
	}
	switch k := v.Kind.(type) {
	case *structpb.Value_NullValue:
		b = append(b, valueNull)
		b = appendVarint(b, uint64(int64(k.NullValue)))
	case *structpb.Value_NumberValue:
		b = append(b, valueNumber)
		b = protowire.AppendFixed64(b, math.Float64bits(k.NumberValue))
	case *structpb.Value_StringValue:
		b = appendBytesField(b, valueString, k.StringValue, bad)
	case *structpb.Value_BoolValue:
		b = append(b, valueBool, byte(protowire.EncodeBool(k.BoolValue)))
	case *structpb.Value_StructValue:
		if depth >= maxNesting {
			*bad = true
			return b
		}
		b = append(b, valueStruct, 0)
		mark := len(b) - 1
		b = appendStruct(b, k.StructValue, depth+1, bad)
		b = endNested(b, mark)
	case *structpb.Value_ListValue:
		if depth >= maxNesting {
			*bad = true
			return b
		}
		b = append(b, valueList, 0)
		list := len(b) - 1
		for _, e := range k.ListValue.GetValues() {
			b = append(b, listValues, 0)
			mark := len(b) - 1
			b = appendValue(b, e, depth+1, bad)
			b = endNested(b, mark)
		}
		if k.ListValue != nil {
			b = append(b, k.ListValue.ProtoReflect().GetUnknown()...)
		}
		b = endNested(b, list)
	}
	return append(b, v.ProtoReflect().GetUnknown()...)
}
