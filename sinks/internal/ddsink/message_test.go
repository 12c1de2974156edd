package ddsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/eventjson"
)

// protojsonOf is the message a log should carry for ev: protojson's,
// compacted, or its error.
func protojsonOf(ev *auditv1.Event) ([]byte, error) {
	b, err := protojson.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = json.Compact(&out, b)
	return out.Bytes(), err
}

// richEvent is an event with every field set and data of every kind.
func richEvent() *auditv1.Event {
	ev := event(1)
	ev.ActorId, ev.UserId, ev.RemoteAddress, ev.Device, ev.Method, ev.Geo = "a1", "u1", "198.51.100.7", "Desktop", "otp", "IL"
	ev.LoginIds, ev.ExternalIds = []string{"a@example.com", "b@example.com"}, []string{"x1"}
	ev.Occurred = timestamppb.New(epoch.Add(123 * time.Millisecond))
	ev.Data = &structpb.Struct{Fields: map[string]*structpb.Value{
		"s": structpb.NewStringValue("v"), "n": structpb.NewNumberValue(-1.5), "b": structpb.NewBoolValue(true), "null": structpb.NewNullValue(),
		"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("a"), structpb.NewStructValue(&structpb.Struct{})}}),
	}}
	return ev
}

// deepData is data nested depth Structs deep.
func deepData(depth int) *structpb.Struct {
	s := &structpb.Struct{}
	for range depth {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{"in": structpb.NewStructValue(s)}}
	}
	return s
}

// TestLogBuilderMessages checks the messages of logs as the Writer builds
// them, hand-written or not: protojson's, or protojson's error.
func TestLogBuilderMessages(t *testing.T) {
	evs := []*auditv1.Event{
		richEvent(),
		{Id: "bad\xff"},
		{Id: "deep", Data: deepData(eventjson.MaxNesting + 3)},
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

// TestLogSizeIsTheClients checks the sizes the Writer counts against
// the client's own encoding of the logs (datadog.Marshal: encoding/json, or
// goccy/go-json when built with the goccy_gojson tag, as make builds it).
func TestLogSizeIsTheClients(t *testing.T) {
	odd := "<&> \"\\\x00\x1f\x7f\b\f\n\r\t \u2028\u2029 日本 \ufffd é"
	evs := append(benchEvents(20), richEvent(), event(3),
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
				b, err := datadog.Marshal(item)
				if err != nil {
					t.Fatal(err)
				}
				if sizes[i] != len(b) {
					t.Errorf("log %d: got size %d, want %d, the client's for %s", i, sizes[i], len(b), b)
				}
			}
		})
	}
}

// FuzzQuotedLen compares quotedLen with the client's encoder.
func FuzzQuotedLen(f *testing.F) {
	f.Add("plain")
	f.Add("<&>\"\\\x00\x7f\u2028\u2029\ufffd\xff\xe2\x80")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := datadog.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := quotedLen([]byte(s)); got != len(b) {
			t.Errorf("quotedLen(%q): got %d, want %d (%s)", s, got, len(b), b)
		}
	})
}
