package ddsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

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
	if !knownLayout() {
		t.Fatal("the Event's fields are not eventLayout's: bring message.go (eventLayout and appendEvent) in line with event.proto")
	}
}

// TestMessageIsProtojson checks the hand-written messages against
// protojson, and that what it leaves to protojson is left.
func TestMessageIsProtojson(t *testing.T) {
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
		{"make bench's events", benchEvents(1)[0], true},
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
		{"deep", &auditv1.Event{Data: nested(maxNesting)}, true},
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
		{"too deep", &auditv1.Event{Data: nested(maxNesting + 1)}, false},
		{"seconds out of range", at(253402300800, 0), false},
		{"negative nanos", at(0, -1), false},
		{"a second of nanos", at(0, 1e9), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w messageWriter
			got, ok := w.appendEvent([]byte("prefix"), tt.event)
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
			if msg := got[len("prefix"):]; len(msg)+2+w.extra != quotedLen(msg) {
				t.Errorf("quoted size counted: got %d, want quotedLen's %d", len(msg)+2+w.extra, quotedLen(msg))
			}
		})
	}
}

// TestLogBuilderMessages checks the messages of logs as the Writer builds
// them, hand-written or not: protojson's, or protojson's error.
func TestLogBuilderMessages(t *testing.T) {
	evs := []*auditv1.Event{
		fullEvent(),
		{Id: "bad\xff"},
		{Id: "deep", Data: nested(maxNesting + 3)},
		{Id: "nil struct", Data: &structpb.Struct{Fields: map[string]*structpb.Value{"n": {Kind: &structpb.Value_StructValue{}}}}},
		nil,
		event(7),
	}
	for _, handWritten := range []bool{true, false} {
		m := newMapper("src", "svc", "host", []string{"env:test"})
		m.handWritten = handWritten
		logs := m.builder(0)
		var want [][]byte
		for _, ev := range evs {
			_, err := logs.add(ev)
			pj, pjErr := protojsonOf(ev)
			if ev == nil {
				pjErr = errors.New("no event") // the Writer's, where protojson writes {}
			}
			if (err != nil) != (pjErr != nil) {
				t.Errorf("hand-written %v, event %v: got error %v, want protojson's %v", handWritten, ev.GetId(), err, pjErr)
			}
			if err == nil {
				logs.keep()
				want = append(want, pj)
			}
		}
		items := logs.items()
		if len(items) != len(want) {
			t.Fatalf("hand-written %v: got %d logs, want %d", handWritten, len(items), len(want))
		}
		for i, item := range items {
			var got bytes.Buffer
			if err := json.Compact(&got, []byte(item.Message)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want[i]) {
				t.Errorf("hand-written %v, log %d: got message %s, want %s", handWritten, i, got.Bytes(), want[i])
			}
		}
	}
}

// FuzzMessage compares the hand-written messages with protojson's on
// events built from arbitrary strings and a number.
func FuzzMessage(f *testing.F) {
	f.Add("evt", "T1", "key", "value", 1.5, int64(1_700_000_000), int32(5))
	f.Add("\"\\\x00\u2028", "\xff", "<&>", "日本\ufffd", math.Inf(1), int64(-62135596801), int32(-1))
	f.Add("a b,c", "", "", "", -0.0, int64(0), int32(1e9))
	f.Fuzz(func(t *testing.T, id, tenant, key, value string, n float64, secs int64, nanos int32) {
		ev := &auditv1.Event{
			Id: id, Tenants: []string{tenant, id}, Occurred: &timestamppb.Timestamp{Seconds: secs, Nanos: nanos},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{
				key: structpb.NewStringValue(value), value: structpb.NewNumberValue(n),
				"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue(key)}}),
			}},
		}
		var w messageWriter
		got, ok := w.appendEvent(nil, ev)
		want, err := protojsonOf(ev)
		if ok && err != nil {
			t.Fatalf("written by hand as %s, but protojson fails: %v", got, err)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("message:\ngot  %s\nwant %s", got, want)
		}
		if ok && len(got)+2+w.extra != quotedLen(got) {
			t.Fatalf("quoted size counted: got %d, want quotedLen's %d", len(got)+2+w.extra, quotedLen(got))
		}
		// Protojson takes nanos of a whole second, which are left to it;
		// it takes nothing else that is left to it here.
		if !ok && err == nil && nanos != 1e9 {
			t.Fatalf("left to protojson, which writes %s", want)
		}
	})
}

// TestLogSizeIsJSONMarshal checks the sizes the Writer counts against
// json.Marshal of the logs, which is what the client sends for each.
func TestLogSizeIsJSONMarshal(t *testing.T) {
	odd := "<&> \"\\\x00\x1f\x7f\b\f\n\r\t \u2028\u2029 日本 \ufffd é"
	evs := append(benchEvents(20), fullEvent(), event(3),
		&auditv1.Event{Id: odd, ProjectId: odd, Action: "a,b c", Tenants: []string{odd, "t,x"}, Type: odd},
		&auditv1.Event{Id: "no time, no tags", Type: ""},
		&auditv1.Event{Id: "ancient", Occurred: &timestamppb.Timestamp{Seconds: -62135596800}},
		&auditv1.Event{Id: "future", Occurred: &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_999_999}},
	)
	mappers := map[string]*mapper{
		"plain":   newMapper("auditstream", "audit-svc", "sink-0", []string{"env:test"}),
		"odd":     newMapper(odd, "s\xff", odd, []string{odd}),
		"nothing": newMapper("", "", "", nil),
		"no hand": newMapper("src", "", "host", nil),
	}
	mappers["no hand"].handWritten = false
	for name, m := range mappers {
		t.Run(name, func(t *testing.T) {
			logs := m.builder(0)
			var sizes []int
			for _, ev := range evs {
				n, err := logs.add(ev)
				if err != nil {
					t.Fatalf("event %q: %v", ev.GetId(), err)
				}
				logs.keep()
				sizes = append(sizes, n)
			}
			for i, item := range logs.items() {
				b, err := json.Marshal(item)
				if err != nil {
					t.Fatal(err)
				}
				if sizes[i] != len(b) {
					t.Errorf("log %d: got size %d, want %d, json.Marshal's for %s", i, sizes[i], len(b), b)
				}
			}
		})
	}
}

// FuzzQuotedLen compares quotedLen with encoding/json.
func FuzzQuotedLen(f *testing.F) {
	f.Add("plain")
	f.Add("<&>\"\\\x00\x7f\u2028\u2029\ufffd\xff\xe2\x80")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := quotedLen([]byte(s)); got != len(b) {
			t.Errorf("quotedLen(%q): got %d, want %d (%s)", s, got, len(b), b)
		}
	})
}
