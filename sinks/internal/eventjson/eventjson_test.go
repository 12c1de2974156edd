package eventjson

import (
	"bytes"
	"encoding/json"
	"math"
	"math/bits"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// quoted is the size of b written by encoding/json as a string.
func quoted(t testing.TB, b []byte) int {
	q, err := json.Marshal(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return len(q)
}

func TestCompact(t *testing.T) {
	for _, src := range []string{
		`{}`, `{ "a" : 1 , "b" : [ 1 , 2 ] }`, `{"s":"a b\t\"c\" \\ ", "t" :"\\"}`, "{\n\t\"k\":\r\n true }",
		`{"u":"\u00e9 \" "}`, `[ "x" , { } , null ]`,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(src)); err != nil {
			t.Fatal(err)
		}
		if got := Compact([]byte("prefix:"), []byte(src)); string(got) != "prefix:"+want.String() {
			t.Errorf("Compact(%q) = %q; want %q", src, strings.TrimPrefix(string(got), "prefix:"), want.String())
		}
	}
}

// protojsonOf returns what protojson writes for ev, compacted (protojson
// inserts random spaces), or its error.
func protojsonOf(ev *auditv1.Event) ([]byte, error) {
	b, err := protojson.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// fullEvent returns an event with every field set.
func fullEvent() *auditv1.Event {
	return &auditv1.Event{
		Id: "evt-1", ProjectId: "p1", Action: "UserCreated", Type: "warn", ActorId: "a1", UserId: "u1",
		LoginIds: []string{"a@example.com", "b@example.com"}, Tenants: []string{"t1", "t2"},
		RemoteAddress: "198.51.100.7", Occurred: timestamppb.New(epoch.Add(123 * time.Millisecond)),
		Device: "Desktop", Method: "otp", Geo: "IL", ExternalIds: []string{"x1"},
		Data: &structpb.Struct{Fields: map[string]*structpb.Value{
			"s":     structpb.NewStringValue("v"),
			"n":     structpb.NewNumberValue(1.5),
			"b":     structpb.NewBoolValue(true),
			"null":  structpb.NewNullValue(),
			"obj":   structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewNumberValue(-2)}}),
			"list":  structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("a"), structpb.NewNullValue(), structpb.NewStructValue(&structpb.Struct{})}}),
			"empty": structpb.NewListValue(&structpb.ListValue{}),
		}},
	}
}

// nested returns data nested depth Structs deep.
func nested(depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{"leaf": structpb.NewBoolValue(false)}}
	for range depth - 1 {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{"in": structpb.NewStructValue(s)}}
	}
	return s
}

func TestKnownLayout(t *testing.T) {
	if !KnownLayout() {
		t.Fatal("the Event's fields are not eventLayout's: bring eventjson.go (eventLayout and Writer.Append) in line with event.proto")
	}
}

// TestMatchesProtojson checks the hand-written JSON against protojson's,
// and that what it leaves to protojson is left.
func TestMatchesProtojson(t *testing.T) {
	withData := func(fields map[string]*structpb.Value) *auditv1.Event {
		return &auditv1.Event{Id: "d", Data: &structpb.Struct{Fields: fields}}
	}
	at := func(secs int64, nanos int32) *auditv1.Event {
		return &auditv1.Event{Id: "t", Occurred: &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}}
	}
	tests := []struct {
		name     string
		event    *auditv1.Event
		wantHand bool // written here, not left to protojson
	}{
		{"every field", fullEvent(), true},
		{"empty event", &auditv1.Event{}, true},
		{"loadgen's events", loadgen.New(loadgen.Config{Seed: 1, PadTo: 700}).Next(), true},
		{"escapes", &auditv1.Event{Id: "q\"b\\s/\b\f\n\r\t\x00\x01\x1f\x7f<>&\u2028\u2029\ufffd日本"}, true},
		{"escaped struct key", withData(map[string]*structpb.Value{"a\"b\n": structpb.NewStringValue("x")}), true},
		{"empty occurred", &auditv1.Event{Occurred: &timestamppb.Timestamp{}}, true},
		{"empty data", &auditv1.Event{Data: &structpb.Struct{}}, true},
		{"millis", at(1_700_000_000, 120_000_000), true},
		{"micros", at(1_700_000_000, 120_300_000), true},
		{"nanos", at(1_700_000_000, 1), true},
		{"before 1970", at(-1, 999_999_999), true},
		{"year 1", at(-62135596800, 0), true},
		{"year 9999", at(253402300799, 999_999_999), true},
		{"numbers", withData(map[string]*structpb.Value{
			"zero": structpb.NewNumberValue(0), "negzero": structpb.NewNumberValue(math.Copysign(0, -1)),
			"int": structpb.NewNumberValue(42), "big": structpb.NewNumberValue(1e21), "below": structpb.NewNumberValue(999999999999999900000),
			"tiny": structpb.NewNumberValue(1e-7), "small": structpb.NewNumberValue(1e-6), "third": structpb.NewNumberValue(1.0 / 3),
			"max": structpb.NewNumberValue(math.MaxFloat64), "min": structpb.NewNumberValue(math.SmallestNonzeroFloat64),
			"neg": structpb.NewNumberValue(-1.25e-300), "exp100": structpb.NewNumberValue(1e100),
		}), true},
		{"deep", &auditv1.Event{Data: nested(MaxNesting)}, true},
		{"deep list", withData(map[string]*structpb.Value{"l": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{
			structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1), structpb.NewStringValue("x")}}),
			structpb.NewBoolValue(false),
		}})}), true},

		// Left to protojson: its errors, and what it treats specially.
		{"invalid utf-8", &auditv1.Event{Id: "a\xffb"}, false},
		{"invalid utf-8 in a tenant", &auditv1.Event{Tenants: []string{"\xc3"}}, false},
		{"invalid utf-8 in a struct key", withData(map[string]*structpb.Value{"\xff": structpb.NewNullValue()}), false},
		{"NaN", withData(map[string]*structpb.Value{"n": structpb.NewNumberValue(math.NaN())}), false},
		{"infinity", withData(map[string]*structpb.Value{"n": structpb.NewNumberValue(math.Inf(-1))}), false},
		{"value without kind", withData(map[string]*structpb.Value{"n": {}}), false},
		{"nil value", withData(map[string]*structpb.Value{"n": nil}), false},
		{"nil struct value", withData(map[string]*structpb.Value{"n": {Kind: &structpb.Value_StructValue{}}}), false},
		{"nil list value", withData(map[string]*structpb.Value{"n": {Kind: &structpb.Value_ListValue{}}}), false},
		{"too deep", &auditv1.Event{Data: nested(MaxNesting + 1)}, false},
		{"seconds out of range", at(253402300800, 0), false},
		{"negative nanos", at(0, -1), false},
		{"a second of nanos", at(0, 1e9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter()
			got, ok := w.Append([]byte("prefix"), tt.event)
			if ok != tt.wantHand {
				t.Fatalf("written by hand: got %v, want %v (%q)", ok, tt.wantHand, got)
			}
			if !ok {
				return
			}
			want, err := protojsonOf(tt.event)
			if err != nil {
				t.Fatalf("protojson: %v", err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
				t.Errorf("message:\ngot  %s\nwant prefix%s", got, want)
			}
			if msg := got[len("prefix"):]; len(msg)+w.QuotedExtra() != quoted(t, msg) {
				t.Errorf("quoted size counted: got %d, want %d", len(msg)+w.QuotedExtra(), quoted(t, msg))
			}
			line, err := w.AppendProtojson(nil, tt.event)
			if err != nil || !bytes.Equal(line, want) {
				t.Errorf("AppendProtojson: %s, %v; want %s", line, err, want)
			}
		})
	}
}

// messageSeed is one seed of FuzzMessage: the event's strings, a number
// in its data, and its time.
type messageSeed struct {
	id, tenant, key, value string
	n                      float64
	secs                   int64
	nanos                  int32
}

// messageSeeds are FuzzMessage's seeds.
func messageSeeds() []messageSeed {
	return []messageSeed{
		{"evt", "T1", "key", "value", 1.5, 1_700_000_000, 5},
		{"\"\\\x00\u2028", "\xff", "<&>", "日本\ufffd", math.Inf(1), -62135596801, -1},
		{"a b,c", "", "", "", math.Copysign(0, -1), 0, 1e9},
		{"a long id, \"quoted\" <b> & more\x7f", "tenant\twith\ttabs", "key\u2028long", "日本語のテキスト 😀\\", 1e21, 1, 0},
	}
}

// TestMessageSeedsNegativeZero: one seed of FuzzMessage is −0, not +0 (the
// Go constant -0.0 is +0; staticcheck SA4026).
func TestMessageSeedsNegativeZero(t *testing.T) {
	for _, s := range messageSeeds() {
		if s.n == 0 && math.Signbit(s.n) {
			return
		}
	}
	t.Error("FuzzMessage seeds: got no −0, want one")
}

// FuzzMessage compares the hand-written messages with protojson's on
// events built from arbitrary strings and a number.
func FuzzMessage(f *testing.F) {
	for _, s := range messageSeeds() {
		f.Add(s.id, s.tenant, s.key, s.value, s.n, s.secs, s.nanos)
	}
	f.Fuzz(func(t *testing.T, id, tenant, key, value string, n float64, secs int64, nanos int32) {
		ev := &auditv1.Event{
			Id: id, Tenants: []string{tenant, id}, Occurred: &timestamppb.Timestamp{Seconds: secs, Nanos: nanos},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{
				key: structpb.NewStringValue(value), value: structpb.NewNumberValue(n),
				"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue(key)}}),
			}},
		}
		w := NewWriter()
		got, ok := w.Append(nil, ev)
		want, err := protojsonOf(ev)
		if ok && err != nil {
			t.Fatalf("written by hand as %s, but protojson fails: %v", got, err)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("message:\ngot  %s\nwant %s", got, want)
		}
		if ok && len(got)+w.QuotedExtra() != quoted(t, got) {
			t.Fatalf("quoted size counted: got %d, want %d", len(got)+w.QuotedExtra(), quoted(t, got))
		}
		if line, err2 := w.AppendProtojson(nil, ev); (err2 == nil) != (err == nil) || err == nil && !bytes.Equal(line, want) {
			t.Fatalf("AppendProtojson: %s, %v; want %s, %v", line, err2, want, err)
		}
		// Protojson takes nanos of a whole second, which are left to it;
		// it takes nothing else that is left to it here.
		if !ok && err == nil && nanos != 1e9 {
			t.Fatalf("left to protojson, which writes %s", want)
		}
	})
}

// TestSpecialBytes checks the eight-byte test of quote against plainBytes
// for every pair of bytes at every pair of places in a word of plain ones.
func TestSpecialBytes(t *testing.T) {
	for c1 := range 256 {
		for c2 := range 256 {
			for p1 := range 8 {
				for p2 := p1 + 1; p2 < 8; p2++ {
					word := []byte("xxxxxxxx")
					word[p1], word[p2] = byte(c1), byte(c2)
					want := 8 // the first byte that is not plain; 8 for none
					switch {
					case !plainBytes[c1]:
						want = p1
					case !plainBytes[c2]:
						want = p2
					}
					got := 8
					if special := specialBytes(load64(string(word))); special != 0 {
						got = bits.TrailingZeros64(special) / 8
					}
					if got != want {
						t.Fatalf("first byte not plain in %q: got %d, want %d", word, got, want)
					}
				}
			}
		}
	}
}
