package record

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// eventSize returns the encoded size of ev and, separately, of its data
// field's content, which appendEvent needs again.
func eventSize(ev *auditv1.Event) (size, dataSize int) {
	n := strSize(ev.Id) + strSize(ev.ProjectId) + strSize(ev.Action) + strSize(ev.Type) +
		strSize(ev.ActorId) + strSize(ev.UserId) + strSize(ev.RemoteAddress) +
		strSize(ev.Device) + strSize(ev.Method) + strSize(ev.Geo) +
		stringsSize(ev.LoginIds) + stringsSize(ev.Tenants) + stringsSize(ev.ExternalIds)
	if ev.Occurred != nil {
		n += 1 + protowire.SizeBytes(timestampSize(ev.Occurred))
	}
	if ev.Data != nil {
		dataSize = structSize(ev.Data)
		n += 1 + protowire.SizeBytes(dataSize)
	}
	return n + len(ev.ProtoReflect().GetUnknown()), dataSize
}

// strSize is the size of a proto3 string field: nothing when empty.
func strSize(s string) int {
	if s == "" {
		return 0
	}
	return 1 + protowire.SizeBytes(len(s))
}

// stringsSize is the size of a repeated string field, where every element,
// empty or not, is written.
func stringsSize(ss []string) int {
	n := 0
	for _, s := range ss {
		n += 1 + protowire.SizeBytes(len(s))
	}
	return n
}

func timestampSize(t *timestamppb.Timestamp) int {
	n := 0
	if t.Seconds != 0 {
		n += 1 + protowire.SizeVarint(uint64(t.Seconds))
	}
	if t.Nanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(t.Nanos)))
	}
	return n + len(t.ProtoReflect().GetUnknown())
}

func structSize(s *structpb.Struct) int {
	n := 0
	for k, v := range s.GetFields() {
		n += 1 + protowire.SizeBytes(entrySize(k, valueSize(v)))
	}
	if s != nil {
		n += len(s.ProtoReflect().GetUnknown())
	}
	return n
}

// entrySize is the size of a map entry's content: the key, then the value.
func entrySize(key string, valueSize int) int {
	return 1 + protowire.SizeBytes(len(key)) + 1 + protowire.SizeBytes(valueSize)
}

func valueSize(v *structpb.Value) int {
	if v == nil {
		return 0
	}
	n := 0
	switch k := v.Kind.(type) {
	case *structpb.Value_NullValue:
		n = 1 + protowire.SizeVarint(uint64(int64(k.NullValue)))
	case *structpb.Value_NumberValue:
		n = 1 + 8
	case *structpb.Value_StringValue:
		n = 1 + protowire.SizeBytes(len(k.StringValue))
	case *structpb.Value_BoolValue:
		n = 1 + 1
	case *structpb.Value_StructValue:
		n = 1 + protowire.SizeBytes(structSize(k.StructValue))
	case *structpb.Value_ListValue:
		n = 1 + protowire.SizeBytes(listSize(k.ListValue))
	}
	return n + len(v.ProtoReflect().GetUnknown())
}

func listSize(l *structpb.ListValue) int {
	n := 0
	for _, v := range l.GetValues() {
		n += 1 + protowire.SizeBytes(valueSize(v))
	}
	if l != nil {
		n += len(l.ProtoReflect().GetUnknown())
	}
	return n
}

// appendEvent appends ev's encoding to b; dataSize is from eventSize. ok is
// false when the event is for proto.Marshal to encode: a string is not valid
// UTF-8, or the data is nested too deep.
//
// The appends pass the slice in and out rather than through a pointer: a
// slice stored through a pointer costs a write barrier whenever the garbage
// collector is running.
func appendEvent(b []byte, ev *auditv1.Event, dataSize int) (_ []byte, ok bool) {
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
		b = append(b, eventOccurred)
		b = appendVarint(b, uint64(timestampSize(t)))
		if t.Seconds != 0 {
			b = append(b, timestampSeconds)
			b = appendVarint(b, uint64(t.Seconds))
		}
		if t.Nanos != 0 {
			b = append(b, timestampNanos)
			b = appendVarint(b, uint64(int64(t.Nanos)))
		}
		b = append(b, t.ProtoReflect().GetUnknown()...)
	}
	b = appendStr(b, 11, ev.Device, &bad)
	b = appendStr(b, 12, ev.Method, &bad)
	b = appendStr(b, 13, ev.Geo, &bad)
	b = appendStrs(b, 14, ev.ExternalIds, &bad)
	if ev.Data != nil {
		b = append(b, eventData)
		b = appendVarint(b, uint64(dataSize))
		b = appendStruct(b, ev.Data, 0, &bad)
	}
	b = append(b, ev.ProtoReflect().GetUnknown()...)
	return b, !bad
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
		vs := valueSize(v)
		b = append(b, structFields)
		b = appendVarint(b, uint64(entrySize(k, vs)))
		b = appendBytesField(b, entryKey, k, bad)
		b = append(b, entryValue)
		b = appendVarint(b, uint64(vs))
		b = appendValue(b, v, depth, bad)
	}
	if s != nil {
		b = append(b, s.ProtoReflect().GetUnknown()...)
	}
	return b
}

// maxNesting is the deepest data appendValue writes. Each level computes
// the size of what it holds before writing it, so the time to write data
// grows with its size times its depth: audit data is shallow, and anything
// deeper than this (say, a crafted record) goes to proto.Marshal, whose time
// does not depend on the depth.
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
		b = append(b, valueStruct)
		b = appendVarint(b, uint64(structSize(k.StructValue)))
		b = appendStruct(b, k.StructValue, depth+1, bad)
	case *structpb.Value_ListValue:
		if depth >= maxNesting {
			*bad = true
			return b
		}
		b = append(b, valueList)
		b = appendVarint(b, uint64(listSize(k.ListValue)))
		for _, e := range k.ListValue.GetValues() {
			b = append(b, listValues)
			b = appendVarint(b, uint64(valueSize(e)))
			b = appendValue(b, e, depth+1, bad)
		}
		if k.ListValue != nil {
			b = append(b, k.ListValue.ProtoReflect().GetUnknown()...)
		}
	}
	return append(b, v.ProtoReflect().GetUnknown()...)
}
