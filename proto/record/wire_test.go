package record

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// checkWire encodes ev with Marshal and with proto.Marshal, and fails unless
// both succeed or both fail, the encodings have the same length and decode
// (with proto.Unmarshal) to equal events. exact also asks for the same
// bytes, which holds when no map has more than one entry (map order is
// random in both).
func checkWire(t *testing.T, ev *auditv1.Event, exact bool) {
	t.Helper()
	want, wantErr := proto.Marshal(ev)
	r, err := Marshal(ev, Protobuf)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("got error %v, proto.Marshal's %v; event %v", err, wantErr, ev)
	}
	if err != nil {
		return
	}
	got := r.Value
	if len(got) != len(want) {
		t.Fatalf("got %d bytes, proto.Marshal %d; event %v\ngot  %x\nwant %x", len(got), len(want), ev, got, want)
	}
	if exact && !bytes.Equal(got, want) {
		t.Fatalf("got bytes that differ from proto.Marshal's; event %v\ngot  %x\nwant %x", ev, got, want)
	}
	gotEv, wantEv := new(auditv1.Event), new(auditv1.Event)
	if err := proto.Unmarshal(got, gotEv); err != nil {
		t.Fatalf("proto.Unmarshal of our encoding: %v", err)
	}
	if err := proto.Unmarshal(want, wantEv); err != nil {
		t.Fatalf("proto.Unmarshal of proto.Marshal's encoding: %v", err)
	}
	if !proto.Equal(gotEv, wantEv) {
		t.Fatalf("decoded: got %v, want %v", gotEv, wantEv)
	}
}

// randomEvent makes an event of random shape: any field may be empty, the
// data holds every kind of value, nested; keys are single when single is
// set, so that the encoding is deterministic.
func randomEvent(r *rand.Rand, single bool) *auditv1.Event {
	str := func() string {
		switch r.IntN(6) {
		case 0:
			return ""
		case 1:
			return "héllo, 世界 ✓"
		case 2:
			return strings.Repeat("x", r.IntN(300)) // lengths over 127 take two bytes
		default:
			return fmt.Sprintf("s%d", r.IntN(1000))
		}
	}
	strs := func() []string {
		var ss []string
		for range r.IntN(4) {
			ss = append(ss, str())
		}
		return ss
	}
	ev := &auditv1.Event{
		Id: str(), ProjectId: str(), Action: str(), Type: str(), ActorId: str(), UserId: str(),
		LoginIds: strs(), Tenants: strs(), RemoteAddress: str(), Device: str(), Method: str(), Geo: str(),
		ExternalIds: strs(),
	}
	if r.IntN(5) > 0 {
		ev.Occurred = &timestamppb.Timestamp{Seconds: r.Int64N(1<<40) - 1<<39, Nanos: r.Int32N(2e9) - 1e9}
	}
	if r.IntN(5) > 0 {
		ev.Data = randomStruct(r, str, single, 3)
	}
	return ev
}

func randomStruct(r *rand.Rand, str func() string, single bool, depth int) *structpb.Struct {
	n := r.IntN(6)
	if single {
		n = min(n, 1)
	}
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for range n {
		s.Fields[str()] = randomValue(r, str, single, depth)
	}
	return s
}

func randomValue(r *rand.Rand, str func() string, single bool, depth int) *structpb.Value {
	kinds := 8
	if depth == 0 {
		kinds = 6 // no more nesting
	}
	switch r.IntN(kinds) {
	case 0:
		return structpb.NewNullValue()
	case 1:
		return structpb.NewNumberValue([]float64{0, -1.5, 1e300, math.Inf(-1), math.NaN(), 42}[r.IntN(6)])
	case 2:
		return structpb.NewBoolValue(r.IntN(2) == 0)
	case 3:
		return &structpb.Value{} // no kind set
	case 4, 5:
		return structpb.NewStringValue(str())
	case 6:
		return structpb.NewStructValue(randomStruct(r, str, single, depth-1))
	default:
		l := &structpb.ListValue{}
		for range r.IntN(4) {
			l.Values = append(l.Values, randomValue(r, str, single, depth-1))
		}
		return structpb.NewListValue(l)
	}
}

// sampleEvent is a realistic event of about size bytes, shaped like the
// load generator's (producer/loadgen, which this module cannot import).
func sampleEvent(r *rand.Rand, size int) *auditv1.Event {
	user := fmt.Sprintf("U%06d", r.IntN(100_000))
	ev := &auditv1.Event{
		Id:            fmt.Sprintf("0192f1d4-7c1e-7cc2-8b1a-%012x", r.Uint64()>>16),
		ProjectId:     fmt.Sprintf("P%03d", r.IntN(3)+1),
		Action:        "LoginSucceed",
		Type:          "info",
		ActorId:       user,
		UserId:        user,
		LoginIds:      []string{strings.ToLower(user) + "@example.com"},
		Tenants:       []string{fmt.Sprintf("T%04d", r.IntN(30)+1)},
		RemoteAddress: fmt.Sprintf("198.51.100.%d", r.IntN(254)+1),
		Occurred:      timestamppb.New(time.Date(2026, 11, 25, 6, 1, 2, r.IntN(1e9), time.UTC)),
		Device:        "Desktop",
		Method:        "otp",
		Geo:           "US",
		Data: &structpb.Struct{Fields: map[string]*structpb.Value{
			"userAgent": structpb.NewStringValue("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
			"sessionId": structpb.NewStringValue(fmt.Sprintf("S%016x", r.Uint64())),
		}},
	}
	if n := size - proto.Size(ev) - 24; n > 0 {
		ev.Data.Fields["padding"] = structpb.NewStringValue(strings.Repeat("x", n))
	}
	return ev
}

func TestWireRandomEvents(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		single := i%2 == 0
		ev := randomEvent(r, single)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkWire(t, ev, single) })
	}
	for range 1000 {
		checkWire(t, sampleEvent(r, 700), false)
	}
}

// withUnknown returns m with an unknown field (number 1000, a string).
func withUnknown[M proto.Message](m M) M {
	var u []byte
	u = protowire.AppendTag(u, 1000, protowire.BytesType)
	u = protowire.AppendString(u, "from a newer schema")
	m.ProtoReflect().SetUnknown(u)
	return m
}

func TestWireEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		ev   *auditv1.Event
	}{
		{"empty event", &auditv1.Event{}},
		{"zero occurred", &auditv1.Event{Occurred: &timestamppb.Timestamp{}}},
		{"negative seconds and nanos", &auditv1.Event{Occurred: &timestamppb.Timestamp{Seconds: -1, Nanos: -1}}},
		{"max timestamp", &auditv1.Event{Occurred: &timestamppb.Timestamp{Seconds: math.MaxInt64, Nanos: math.MaxInt32}}},
		{"empty data", &auditv1.Event{Data: &structpb.Struct{}}},
		{"nil map value", &auditv1.Event{Data: one("k", nil)}},
		{"value without kind", &auditv1.Event{Data: one("k", &structpb.Value{})}},
		{"nil struct in value", &auditv1.Event{Data: one("k", &structpb.Value{Kind: &structpb.Value_StructValue{}})}},
		{"nil list in value", &auditv1.Event{Data: one("k", &structpb.Value{Kind: &structpb.Value_ListValue{}})}},
		{"nil in list", &auditv1.Event{Data: one("k", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{nil}}))}},
		{"negative enum", &auditv1.Event{Data: one("k", &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: -1}})}},
		{"empty key", &auditv1.Event{Data: &structpb.Struct{Fields: map[string]*structpb.Value{"": structpb.NewStringValue("")}}}},
		{"zero number and false", &auditv1.Event{Data: &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(0)}}}},
		{"empty repeated strings", &auditv1.Event{Tenants: []string{"", ""}, LoginIds: []string{""}, ExternalIds: []string{""}}},
		{"long string", &auditv1.Event{Id: strings.Repeat("i", 1<<15)}},
		{"big struct", &auditv1.Event{Data: one("k", structpb.NewStringValue(strings.Repeat("v", 1<<17)))}},
		{"unknown in event", withUnknown(&auditv1.Event{ProjectId: "P1"})},
		{"unknown in timestamp", &auditv1.Event{Occurred: withUnknown(timestamppb.New(time.Unix(1, 2)))}},
		{"unknown in struct", &auditv1.Event{Data: withUnknown(one("k", structpb.NewBoolValue(true)))}},
		{"unknown in value", &auditv1.Event{Data: one("k", withUnknown(structpb.NewNumberValue(1)))}},
		{"unknown in list", &auditv1.Event{Data: one("k", structpb.NewListValue(withUnknown(&structpb.ListValue{})))}},
		{"nested to the limit", &auditv1.Event{Data: nested(maxNesting)}},
		{"nested beyond the limit", &auditv1.Event{Data: nested(maxNesting + 1)}},
		{"nested deep", &auditv1.Event{Data: nested(2000)}},
		{"invalid UTF-8 in id", &auditv1.Event{Id: "a\xffb"}},
		{"invalid UTF-8 in tenants", &auditv1.Event{Tenants: []string{"ok", "\xc3"}}},
		{"invalid UTF-8 in a key", &auditv1.Event{Data: &structpb.Struct{Fields: map[string]*structpb.Value{"\xff": nil}}}},
		{"invalid UTF-8 in a nested value", &auditv1.Event{Data: one("k", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("\xff")}}))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkWire(t, tt.ev, true) })
	}
	// Three keys in data: the order of the entries is random.
	checkWire(t, sample(t), false)
}

// nested returns a Struct with depth levels of Structs and lists inside.
func nested(depth int) *structpb.Struct {
	v := structpb.NewStringValue("leaf")
	for i := range depth {
		if i%2 == 0 {
			v = structpb.NewStructValue(one("k", v))
		} else {
			v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
		}
	}
	return one("top", v)
}

// TestWireNestingLimit checks that data nested beyond maxNesting is left to
// proto.Marshal: written here, its cost would grow with the square of the
// depth.
func TestWireNestingLimit(t *testing.T) {
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{maxNesting, true}, {maxNesting + 1, false}} {
		ev := &auditv1.Event{Data: nested(tt.depth)}
		if _, ok := appendEvent(nil, ev); ok != tt.ok {
			t.Errorf("depth %d: got ok %v, want %v", tt.depth, ok, tt.ok)
		}
	}
}

func TestWireInvalidUTF8Error(t *testing.T) {
	ev := &auditv1.Event{ProjectId: "P1", ActorId: "\xff"}
	_, want := proto.Marshal(ev)
	_, err := Marshal(ev, Protobuf)
	if err == nil || !strings.Contains(err.Error(), want.Error()) {
		t.Errorf("got %v, want an error that contains proto.Marshal's %q", err, want)
	}
}

func TestWireNilEvent(t *testing.T) {
	r, err := Marshal(nil, Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Value) != 0 {
		t.Errorf("got %x, want an empty value, as proto.Marshal gives", r.Value)
	}
}

// TestWireCoversEveryField sets every field of the Event and checks that it
// comes through: a field added to event.proto must be added to wire.go.
func TestWireCoversEveryField(t *testing.T) {
	ev := everyField(t, "wire.go")
	fields := ev.ProtoReflect().Descriptor().Fields()
	r, err := Marshal(ev, Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	got := new(auditv1.Event)
	if err := proto.Unmarshal(r.Value, got); err != nil {
		t.Fatal(err)
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if !got.ProtoReflect().Has(f) {
			t.Errorf("field %s (%d) is not encoded: add it to wire.go", f.Name(), f.Number())
		}
	}
	if !proto.Equal(got, ev) {
		t.Errorf("got %v, want %v", got, ev)
	}
	if want, _ := proto.Marshal(ev); !bytes.Equal(r.Value, want) {
		t.Errorf("got %x, proto.Marshal %x", r.Value, want)
	}
}

// everyField returns an event with every field set, or fails the test when
// it does not know how to set one: file is the code that must learn it too.
func everyField(t *testing.T, file string) *auditv1.Event {
	t.Helper()
	ev := &auditv1.Event{}
	m := ev.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsList() && f.Kind() == protoreflect.StringKind:
			l := m.Mutable(f).List()
			l.Append(protoreflect.ValueOfString("a-" + string(f.Name())))
			l.Append(protoreflect.ValueOfString("b-" + string(f.Name())))
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("v-"+string(f.Name())))
		case f.Message() != nil && f.Message().FullName() == "google.protobuf.Timestamp":
			m.Set(f, protoreflect.ValueOfMessage(timestamppb.New(time.Unix(1764050462, 7)).ProtoReflect()))
		case f.Message() != nil && f.Message().FullName() == "google.protobuf.Struct":
			m.Set(f, protoreflect.ValueOfMessage(one("k", structpb.NewStringValue("v")).ProtoReflect()))
		default:
			t.Fatalf("field %s (%v): this test does not know how to set it; teach it, and %s", f.Name(), f.Kind(), file)
		}
	}
	return ev
}

func one(k string, v *structpb.Value) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{k: v}}
}

// FuzzWire decodes arbitrary bytes into an event, which may then hold any
// shape of data and unknown fields anywhere, and encodes it both ways.
//
//	go test -run '^$' -fuzz FuzzWire ./record
func FuzzWire(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, err := proto.Marshal(randomEvent(r, false))
		if err == nil {
			f.Add(b)
		}
	}
	f.Add(mustMarshal(f, withUnknown(&auditv1.Event{Data: one("k", withUnknown(structpb.NewNullValue()))})))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev := new(auditv1.Event)
		if proto.Unmarshal(b, ev) != nil {
			return
		}
		checkWire(t, ev, false)
	})
}

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// The benchmarks encode events shaped like the load generator's, of about
// 700 bytes, cycling through more of them than fit in a CPU cache.
//
//	go test -run '^$' -bench . -benchmem ./record
func benchEvents() []*auditv1.Event {
	r := rand.New(rand.NewPCG(5, 6))
	evs := make([]*auditv1.Event, 4096)
	for i := range evs {
		evs[i] = sampleEvent(r, 700)
	}
	return evs
}

// BenchmarkProtoMarshal is the reference: proto.Marshal of the event alone.
func BenchmarkProtoMarshal(b *testing.B) {
	evs := benchEvents()
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		if _, err := proto.Marshal(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal is the whole record: value, key and headers.
func BenchmarkMarshal(b *testing.B) {
	evs := benchEvents()
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		if _, err := Marshal(evs[i%len(evs)], Protobuf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	evs := benchEvents()
	for _, ev := range evs {
		ev.Tenants = append(ev.Tenants, "T0002") // a second tenant, as one event in twenty has
	}
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		if err := Validate(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
}
