package record

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// checkUnwire decodes b with unmarshalEvent and with proto.Unmarshal, and
// fails unless both reject it, or both accept it and give the same event:
// proto.Equal, and the same bytes from a deterministic proto.Marshal, which
// also holds the unknown fields of every message, in order (proto.Equal
// lets unknown fields of different numbers come in any order). The only
// other outcome allowed is unwireDeep, for data nested beyond maxNesting.
// It checks Unmarshal too, which must give the same as proto.Unmarshal
// whatever unmarshalEvent does.
func checkUnwire(t *testing.T, b []byte) {
	t.Helper()
	want := new(auditv1.Event)
	wantErr := proto.Unmarshal(b, want)
	got, r := unmarshalEvent(b)

	viaUnmarshal, err := Unmarshal(b, ContentTypeProtobuf)
	var de *DecodeError
	switch {
	case wantErr != nil && (!errors.As(err, &de) || de.Format != "protobuf"):
		t.Errorf("Unmarshal: got error %v, want a protobuf DecodeError like proto.Unmarshal's %v; value %x", err, wantErr, b)
	case wantErr == nil && err != nil:
		t.Errorf("Unmarshal: got error %v, proto.Unmarshal none; value %x", err, b)
	case wantErr == nil && !proto.Equal(viaUnmarshal, want):
		t.Errorf("Unmarshal: got %v, want %v; value %x", viaUnmarshal, want, b)
	}

	if wantErr != nil {
		if r == unwireOK {
			t.Fatalf("got %v, want a rejection like proto.Unmarshal's %v; value %x", got, wantErr, b)
		}
		return
	}
	switch r {
	case unwireInvalid:
		t.Fatalf("got a rejection, proto.Unmarshal accepts %v; value %x", want, b)
	case unwireDeep:
		if d := structDepth(want.GetData()); d <= maxNesting {
			t.Fatalf("got unwireDeep for data nested %d deep, at most maxNesting (%d); value %x", d, maxNesting, b)
		}
		return
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v; value %x", got, want, b)
	}
	for _, m := range [][2]protoreflect.ProtoMessage{{got, want}, {got.GetOccurred(), want.GetOccurred()}, {got.GetData(), want.GetData()}} {
		if g, w := m[0].ProtoReflect().GetUnknown(), m[1].ProtoReflect().GetUnknown(); !bytes.Equal(g, w) {
			t.Fatalf("unknown fields of the %s: got %x, want %x; value %x", m[1].ProtoReflect().Descriptor().Name(), g, w, b)
		}
	}
	if err := sameNils(structpb.NewStructValue(got.GetData()), structpb.NewStructValue(want.GetData())); err != nil {
		t.Fatalf("data: %v; value %x", err, b)
	}
	det := proto.MarshalOptions{Deterministic: true}
	gb, err := det.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := det.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Fatalf("re-encoded: got %x, want %x; value %x", gb, wb, b)
	}
}

// sameNils reports where got has a nil message that want has not, or the
// other way around: neither proto.Equal nor proto.Marshal tell a nil Value
// in a map or a list from an empty one.
func sameNils(got, want *structpb.Value) error {
	if (got == nil) != (want == nil) {
		return fmt.Errorf("got value %v, want %v", got, want)
	}
	switch w := want.GetKind().(type) {
	case *structpb.Value_StructValue:
		g := got.GetKind().(*structpb.Value_StructValue)
		if (g.StructValue == nil) != (w.StructValue == nil) {
			return fmt.Errorf("got struct %v, want %v", g.StructValue, w.StructValue)
		}
		for k, v := range w.StructValue.GetFields() {
			if err := sameNils(g.StructValue.GetFields()[k], v); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
		}
	case *structpb.Value_ListValue:
		g := got.GetKind().(*structpb.Value_ListValue)
		if (g.ListValue == nil) != (w.ListValue == nil) {
			return fmt.Errorf("got list %v, want %v", g.ListValue, w.ListValue)
		}
		for i, v := range w.ListValue.GetValues() {
			if err := sameNils(g.ListValue.GetValues()[i], v); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// structDepth is the number of Structs and lists inside s, at the deepest.
func structDepth(s *structpb.Struct) int {
	d := 0
	for _, v := range s.GetFields() {
		d = max(d, valueDepth(v))
	}
	return d
}

func valueDepth(v *structpb.Value) int {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		return 1 + structDepth(k.StructValue)
	case *structpb.Value_ListValue:
		d := 0
		for _, e := range k.ListValue.GetValues() {
			d = max(d, valueDepth(e))
		}
		return 1 + d
	}
	return 0
}

func TestUnwireRandomEvents(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 5000 {
		b, err := proto.Marshal(withUnknowns(r, randomEvent(r, false)))
		if err != nil {
			continue // invalid UTF-8 is not generated, but be safe
		}
		checkUnwire(t, b)
	}
	for range 2000 {
		b, err := proto.Marshal(sampleEvent(r, 700))
		if err != nil {
			t.Fatal(err)
		}
		checkUnwire(t, b)
	}
}

// withUnknowns adds an unknown field to some of ev's messages, at random.
func withUnknowns(r *rand.Rand, ev *auditv1.Event) *auditv1.Event {
	maybe := func(m proto.Message) {
		if r.IntN(4) == 0 {
			withUnknown(m)
		}
	}
	maybe(ev)
	if ev.Occurred != nil {
		maybe(ev.Occurred)
	}
	var walk func(v *structpb.Value)
	walk = func(v *structpb.Value) {
		maybe(v)
		switch k := v.GetKind().(type) {
		case *structpb.Value_StructValue:
			maybe(k.StructValue)
			for _, e := range k.StructValue.GetFields() {
				walk(e)
			}
		case *structpb.Value_ListValue:
			maybe(k.ListValue)
			for _, e := range k.ListValue.GetValues() {
				walk(e)
			}
		}
	}
	if ev.Data != nil {
		walk(structpb.NewStructValue(ev.Data))
	}
	return ev
}

// The helpers below build values by hand: field by field, in any order, with
// anything a writer may put there.

func tag(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func str(num protowire.Number, s string) []byte {
	return protowire.AppendString(tag(num, protowire.BytesType), s)
}

func msg(num protowire.Number, parts ...[]byte) []byte {
	return protowire.AppendBytes(tag(num, protowire.BytesType), bytes.Join(parts, nil))
}

func varint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(tag(num, protowire.VarintType), v)
}

func fixed64(num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(tag(num, protowire.Fixed64Type), v)
}

func fixed32(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(tag(num, protowire.Fixed32Type), v)
}

func group(num protowire.Number, parts ...[]byte) []byte {
	b := append(tag(num, protowire.StartGroupType), bytes.Join(parts, nil)...)
	return append(b, tag(num, protowire.EndGroupType)...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// entry is a Struct's map entry (field 1 of the Struct) with these parts.
func entry(parts ...[]byte) []byte { return msg(1, parts...) }

// strEntry is an entry of a key and a string value.
func strEntry(k, v string) []byte { return entry(str(1, k), msg(2, str(3, v))) }

func TestUnwireEdgeCases(t *testing.T) {
	const (
		occurred = 10
		data     = 15
	)
	sample := mustMarshalT(t, sampleEvent(rand.New(rand.NewPCG(9, 10)), 700))
	nan := math.Float64bits(math.NaN()) | 1 // a NaN with a payload
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"sample", sample},

		// Unknown fields, of every wire type, at every level.
		{"unknown in event", cat(str(2, "P1"), varint(100, 1), fixed32(101, 2), fixed64(102, 3), str(103, "x"), group(104, varint(1, 1)), str(3, "A"), varint(100, 4))},
		{"unknown before known", cat(str(1000, "new"), str(1, "id"))},
		{"unknown in timestamp", msg(occurred, varint(1, 5), str(9, "u"), varint(2, 6), fixed32(8, 1))},
		{"unknown in struct", msg(data, varint(2, 1), strEntry("k", "v"), str(3, "u"))},
		{"unknown in value", msg(data, entry(str(1, "k"), msg(2, varint(9, 1), str(3, "v"), fixed64(10, 2))))},
		{"unknown in list", msg(data, entry(str(1, "k"), msg(2, msg(6, varint(2, 1), msg(1, str(3, "a")), str(5, "u")))))},
		{"unknown in map entry (dropped)", msg(data, entry(varint(3, 1), str(1, "k"), str(4, "x"), msg(2, str(3, "v")), group(5)))},
		{"unknown group with nested fields", cat(group(200, str(1, "a"), group(2, varint(1, 1))), str(1, "id"))},
		{"unknown field number max", cat(varint(protowire.MaxValidNumber, 1))},

		// Known fields with another wire type are unknown fields.
		{"string field as varint", cat(varint(1, 7), str(1, "id"))},
		{"repeated string as fixed32", cat(str(8, "T1"), fixed32(8, 1), str(8, "T2"))},
		{"occurred as varint", varint(occurred, 1)},
		{"data as group", group(data, varint(1, 1))},
		{"data as fixed64", fixed64(data, 1)},
		{"seconds as bytes", msg(occurred, str(1, "x"), varint(2, 1))},
		{"nanos as fixed32", msg(occurred, fixed32(2, 1))},
		{"struct fields as varint", msg(data, varint(1, 1), strEntry("k", "v"))},
		{"entry key as varint", msg(data, entry(varint(1, 1), msg(2, str(3, "v"))))},
		{"entry value as varint", msg(data, entry(str(1, "k"), varint(2, 1)))},
		{"null as fixed64", msg(data, entry(str(1, "k"), msg(2, fixed64(1, 0))))},
		{"number as varint", msg(data, entry(str(1, "k"), msg(2, varint(2, 1))))},
		{"string value as varint", msg(data, entry(str(1, "k"), msg(2, varint(3, 1))))},
		{"bool as bytes", msg(data, entry(str(1, "k"), msg(2, str(4, ""))))},
		{"struct value as varint", msg(data, entry(str(1, "k"), msg(2, varint(5, 1))))},
		{"list value as fixed32", msg(data, entry(str(1, "k"), msg(2, fixed32(6, 1))))},
		{"list values as varint", msg(data, entry(str(1, "k"), msg(2, msg(6, varint(1, 1)))))},
		{"wrong wire type keeps the kind", msg(data, entry(str(1, "k"), msg(2, str(3, "v"), varint(5, 1))))},

		// A field seen twice.
		{"string twice: last wins", cat(str(1, "a"), str(2, "P"), str(1, "b"))},
		{"string then empty", cat(str(4, "warn"), str(4, ""))},
		{"repeated strings append", cat(str(7, "a"), str(8, "T1"), str(7, "b"), str(14, ""), str(8, "T2"))},
		{"occurred twice merges", cat(msg(occurred, varint(1, 5), str(7, "u1")), str(1, "id"), msg(occurred, varint(2, 6), str(7, "u2")))},
		{"occurred twice: last seconds", cat(msg(occurred, varint(1, 5), varint(2, 1)), msg(occurred, varint(1, 9)))},
		{"seconds twice in one timestamp", msg(occurred, varint(1, 5), varint(1, 7))},
		{"empty occurred", msg(occurred)},
		{"data twice merges", cat(msg(data, strEntry("a", "1"), strEntry("b", "2"), str(5, "u1")), msg(data, strEntry("b", "3"), strEntry("c", "4"), str(5, "u2")))},
		{"data twice: a later key replaces, not merges", cat(msg(data, entry(str(1, "k"), msg(2, msg(5, strEntry("x", "1"))))), msg(data, entry(str(1, "k"), msg(2, msg(5, strEntry("y", "2"))))))},
		{"empty data", msg(data)},
		{"empty data then data", cat(msg(data), msg(data, strEntry("k", "v")))},
		{"key twice in one struct", msg(data, strEntry("k", "1"), strEntry("k", "2"))},
		{"entry with two keys", msg(data, entry(str(1, "a"), str(1, "b"), msg(2, str(3, "v"))))},
		{"entry value before key", msg(data, entry(msg(2, str(3, "v")), str(1, "k")))},
		{"entry without key", msg(data, entry(msg(2, str(3, "v"))))},
		{"entry without value", msg(data, entry(str(1, "k")))},
		{"empty entry", msg(data, entry())},
		{"entry with two values merge", msg(data, entry(str(1, "k"), msg(2, msg(5, strEntry("a", "1"))), msg(2, msg(5, strEntry("b", "2")))))},
		{"entry with two values of two kinds", msg(data, entry(str(1, "k"), msg(2, str(3, "s")), msg(2, varint(4, 1))))},
		{"value with two kinds: last wins", msg(data, entry(str(1, "k"), msg(2, str(3, "s"), fixed64(2, 1), varint(1, 0))))},
		{"value with struct twice merges", msg(data, entry(str(1, "k"), msg(2, msg(5, strEntry("a", "1"), varint(9, 1)), msg(5, strEntry("b", "2"), varint(9, 2)))))},
		{"value with list twice appends", msg(data, entry(str(1, "k"), msg(2, msg(6, msg(1, str(3, "a")), varint(9, 1)), msg(6, msg(1, varint(4, 1)), varint(9, 2)))))},
		{"struct, then string, then struct", msg(data, entry(str(1, "k"), msg(2, msg(5, strEntry("a", "1")), str(3, "s"), msg(5, strEntry("b", "2")))))},
		{"list, then struct, then list", msg(data, entry(str(1, "k"), msg(2, msg(6, msg(1, str(3, "a"))), msg(5), msg(6, msg(1, str(3, "b"))))))},
		{"empty value in list", msg(data, entry(str(1, "k"), msg(2, msg(6, msg(1), msg(1)))))},

		// Values of every kind, and odd numbers.
		{"every kind", msg(data, entry(str(1, "n"), msg(2, varint(1, 0))), entry(str(1, "d"), msg(2, fixed64(2, math.Float64bits(-1.5)))), entry(str(1, "b"), msg(2, varint(4, 1))), entry(str(1, "s"), msg(2, str(3, "héllo"))), entry(str(1, "e"), msg(2)))},
		{"NaN with payload and minus zero", msg(data, entry(str(1, "nan"), msg(2, fixed64(2, nan))), entry(str(1, "z"), msg(2, fixed64(2, 1<<63))))},
		{"bool 2 is true", msg(data, entry(str(1, "b"), msg(2, varint(4, 2))))},
		{"bool of a 10-byte varint", msg(data, entry(str(1, "b"), msg(2, varint(4, 1<<63))))},
		{"null value other than 0", msg(data, entry(str(1, "n"), msg(2, varint(1, 7))))},
		{"null value beyond int32", msg(data, entry(str(1, "n"), msg(2, varint(1, 1<<40|3))))},
		{"negative seconds and nanos", msg(occurred, varint(1, uint64(1<<64-1)), varint(2, uint64(1<<64-2)))},
		{"nanos beyond int32", msg(occurred, varint(2, 1<<33|5))},
		{"empty strings", cat(str(1, ""), str(7, ""), msg(data, entry(str(1, ""), msg(2, str(3, "")))))},
		{"long string", cat(str(1, strings.Repeat("i", 1<<15)), str(2, "P"))},
		{"overlong tag, known field", cat([]byte{0x8a, 0x80, 0x80, 0x00}, protowire.AppendString(nil, "id"))},
		{"overlong tag, unknown field", []byte{0xa0, 0x86, 0x00, 0x05}},
		{"overlong length", cat(tag(1, protowire.BytesType), []byte{0x82, 0x80, 0x00}, []byte("id"))},
		{"overlong varint value", msg(occurred, tag(1, protowire.VarintType), []byte{0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})},

		// Invalid values.
		{"invalid UTF-8 in id", str(1, "a\xffb")},
		{"invalid UTF-8 in a tenant", cat(str(8, "ok"), str(8, "\xc3"))},
		{"invalid UTF-8 in a key", msg(data, entry(str(1, "\xff"), msg(2, str(3, "v"))))},
		{"invalid UTF-8 in a value", msg(data, strEntry("k", "\xed\xa0\x80"))}, // a surrogate
		{"invalid UTF-8 in a nested value", msg(data, entry(str(1, "k"), msg(2, msg(6, msg(1, str(3, "\xff"))))))},
		{"invalid UTF-8 in an unknown field is fine", str(99, "\xff")},
		{"invalid UTF-8 in a string field of another wire type is fine", cat(varint(1, 1), str(98, "\xff"))},
		{"truncated tag", []byte{0x8a}},
		{"truncated length", []byte{0x0a}},
		{"length beyond the end", []byte{0x0a, 0x05, 'a'}},
		{"huge length", cat(tag(1, protowire.BytesType), protowire.AppendVarint(nil, 1<<62))},
		{"truncated fixed64", msg(data, entry(str(1, "k"), msg(2, tag(2, protowire.Fixed64Type), []byte{1, 2, 3})))},
		{"truncated fixed32 in unknown", cat(tag(100, protowire.Fixed32Type), []byte{1})},
		{"truncated varint value", msg(occurred, tag(1, protowire.VarintType), []byte{0x80})},
		{"varint overflow", msg(occurred, tag(1, protowire.VarintType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})},
		{"varint of 11 bytes", msg(occurred, tag(1, protowire.VarintType), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})},
		{"field number 0", []byte{0x02, 0x00}},
		{"field number 0 in struct", msg(data, []byte{0x00, 0x00})},
		{"field number 0 in entry", msg(data, entry([]byte{0x00, 0x00}))},
		{"field number beyond the max", cat(protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), []byte{0})},
		{"field number beyond int32 in entry", msg(data, entry(protowire.AppendVarint(nil, 1<<40), []byte{0}))},
		{"end group at the top", tag(5, protowire.EndGroupType)},
		{"end group in a timestamp", msg(occurred, tag(1, protowire.EndGroupType))},
		{"end group in a struct", msg(data, tag(1, protowire.EndGroupType))},
		{"end group in an entry", msg(data, entry(tag(1, protowire.EndGroupType)))},
		{"end group in a value", msg(data, entry(str(1, "k"), msg(2, tag(3, protowire.EndGroupType))))},
		{"end group in a list", msg(data, entry(str(1, "k"), msg(2, msg(6, tag(1, protowire.EndGroupType)))))},
		{"group not closed", cat(tag(100, protowire.StartGroupType), varint(1, 1))},
		{"group closed by another number", cat(tag(100, protowire.StartGroupType), tag(101, protowire.EndGroupType))},
		{"wire type 6", cat(tag(1, 6), []byte{0})},
		{"wire type 7 in a value", msg(data, entry(str(1, "k"), msg(2, tag(3, 7))))},
		{"invalid after valid", cat(sample, []byte{0x0a})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUnwire(t, tt.b) })
	}
}

// TestUnwireTruncated cuts values short at every byte, and flips bytes.
func TestUnwireTruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		b := mustMarshalT(t, withUnknowns(r, randomEvent(r, false)))
		for i := range b {
			checkUnwire(t, b[:i])
			c := bytes.Clone(b)
			c[i] ^= byte(1 << r.IntN(8))
			checkUnwire(t, c)
		}
	}
}

// TestUnwireNesting checks data up to maxNesting deep is decoded here, and
// anything deeper, up to what proto.Unmarshal rejects, is left to it.
func TestUnwireNesting(t *testing.T) {
	for _, tt := range []struct {
		depth int
		want  unwireResult
	}{{maxNesting, unwireOK}, {maxNesting + 1, unwireDeep}, {2000, unwireDeep}} {
		b := mustMarshalT(t, &auditv1.Event{Data: nested(tt.depth)})
		if _, r := unmarshalEvent(b); r != tt.want {
			t.Errorf("depth %d: got %v, want %v", tt.depth, r, tt.want)
		}
		checkUnwire(t, b)
	}
	// Beyond proto.Unmarshal's recursion limit (10000 messages): the value
	// is rejected, by proto.Unmarshal.
	b := []byte{}
	for range 5000 {
		b = msg(2, msg(5, entry(str(1, "k"), b))) // a Value holding a Struct
	}
	checkUnwire(t, msg(15, entry(str(1, "k"), b)))
}

func TestUnwireStringsAreCopies(t *testing.T) {
	b := mustMarshalT(t, &auditv1.Event{Id: "id", Data: one("k", structpb.NewStringValue("v"))})
	ev, r := unmarshalEvent(b)
	if r != unwireOK {
		t.Fatal(r)
	}
	for i := range b {
		b[i] = 'X'
	}
	if ev.Id != "id" || ev.Data.Fields["k"].GetStringValue() != "v" {
		t.Errorf("the event changed with its value: %v", ev)
	}
}

// TestUnwireCoversEveryField sets every field of the Event and checks that
// unmarshalEvent decodes it as a field, not as an unknown one: a field added
// to event.proto must be added to unwire.go.
func TestUnwireCoversEveryField(t *testing.T) {
	ev := everyField(t, "unwire.go")
	fields := ev.ProtoReflect().Descriptor().Fields()
	got, r := unmarshalEvent(mustMarshalT(t, ev))
	if r != unwireOK {
		t.Fatalf("got %v, want unwireOK", r)
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if !got.ProtoReflect().Has(f) {
			t.Errorf("field %s (%d) is not decoded: add it to unwire.go", f.Name(), f.Number())
		}
	}
	if u := got.ProtoReflect().GetUnknown(); len(u) > 0 {
		t.Errorf("got unknown fields %x, want none", u)
	}
	if !proto.Equal(got, ev) {
		t.Errorf("got %v, want %v", got, ev)
	}
}

func mustMarshalT(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzUnwire compares unmarshalEvent with proto.Unmarshal on arbitrary
// bytes.
//
//	go test -run '^$' -fuzz FuzzUnwire ./record
func FuzzUnwire(f *testing.F) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 20 {
		f.Add(mustMarshalT(f, withUnknowns(r, randomEvent(r, false))))
	}
	f.Add(mustMarshalT(f, sampleEvent(r, 700)))
	f.Add(cat(msg(15, strEntry("a", "1"), entry(str(1, "k"), msg(2, msg(6, msg(1, str(3, "x")), varint(9, 1)))), msg(10, varint(1, 5), str(9, "u")), group(100, varint(1, 1)))))
	f.Fuzz(func(t *testing.T, b []byte) { checkUnwire(t, b) })
}

// The benchmarks decode events shaped like the load generator's, of about
// 700 bytes, cycling through more of them than fit in a CPU cache.
//
//	go test -run '^$' -bench Unmarshal -benchmem ./record
func benchValues(b *testing.B) [][]byte {
	evs := benchEvents()
	vs := make([][]byte, len(evs))
	for i, ev := range evs {
		vs[i] = mustMarshalT(b, ev)
	}
	return vs
}

// BenchmarkProtoUnmarshal is the reference: proto.Unmarshal into a new
// event, as Unmarshal did before unwire.go.
func BenchmarkProtoUnmarshal(b *testing.B) {
	vs := benchValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		if err := proto.Unmarshal(vs[i%len(vs)], new(auditv1.Event)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	vs := benchValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		if _, err := Unmarshal(vs[i%len(vs)], ContentTypeProtobuf); err != nil {
			b.Fatal(err)
		}
	}
}

func (r unwireResult) String() string {
	return [...]string{"unwireOK", "unwireInvalid", "unwireDeep"}[r]
}
