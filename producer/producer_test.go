package producer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// offline returns a Producer whose broker does not exist: validation fails
// before anything is sent, so these tests need no Kafka.
func offline(t testing.TB, o Options) *Producer {
	t.Helper()
	o.Brokers = []string{"127.0.0.1:1"}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	return p
}

func valid() *auditv1.Event {
	return &auditv1.Event{ProjectId: "P1", Action: "UserCreated", Occurred: timestamppb.Now(), Tenants: []string{"acme"}}
}

func TestPublishRejectsInvalid(t *testing.T) {
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 2048)})
	tests := []struct {
		name     string
		edit     func(*auditv1.Event)
		maxBytes int
		is       error
		field    string
	}{
		{"no project", func(e *auditv1.Event) { e.ProjectId = "" }, 0, ErrInvalid, "projectId"},
		{"no action", func(e *auditv1.Event) { e.Action = "" }, 0, ErrInvalid, "action"},
		{"no occurred", func(e *auditv1.Event) { e.Occurred = nil }, 0, ErrInvalid, "occurred"},
		{"bad type", func(e *auditv1.Event) { e.Type = "debug" }, 0, ErrInvalid, "type"},
		{"bad tenant", func(e *auditv1.Event) { e.Tenants = []string{"a,b"} }, 0, ErrInvalid, "tenants[0]"},
		{"bad action", func(e *auditv1.Event) { e.Action = "User Created!" }, 0, ErrInvalid, "action"},
		{"too large", func(e *auditv1.Event) { e.Data = big }, 1024, ErrTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := offline(t, Options{MaxEventBytes: tt.maxBytes})
			ev := valid()
			tt.edit(ev)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := p.Publish(ctx, ev)
			if !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want errors.Is %v", err, tt.is)
			}
			var fe *record.FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Errorf("got %v, want a FieldError on %s", err, tt.field)
			}
			var se *record.SizeError
			if tt.is == ErrTooLarge && (!errors.As(err, &se) || se.Limit != 1024) {
				t.Errorf("got %v, want a SizeError with limit 1024", err)
			}
			// PublishAsync reports the same error through its callback.
			var asyncErr error
			p.PublishAsync(ctx, ev, func(_ *auditv1.Event, err error) { asyncErr = err })
			if !errors.Is(asyncErr, tt.is) {
				t.Errorf("PublishAsync: got %v, want %v", asyncErr, tt.is)
			}
		})
	}
}

func TestIDGeneratedWhenEmpty(t *testing.T) {
	p := offline(t, Options{})
	ev := valid()
	pe, err := p.prepare(ev)
	if err != nil {
		t.Fatal(err)
	}
	r := &pe.rec
	id, err := uuid.Parse(ev.GetId())
	if err != nil || id.Version() != 7 {
		t.Fatalf("id %q: got version %d, %v; want a UUIDv7", ev.GetId(), id.Version(), err)
	}
	if r.Topic != DefaultTopic {
		t.Errorf("topic: got %q, want %q", r.Topic, DefaultTopic)
	}
	ev2 := valid()
	ev2.Id = "caller-chosen"
	if _, err := p.prepare(ev2); err != nil || ev2.GetId() != "caller-chosen" {
		t.Errorf("a caller's id must be kept: got %q, %v", ev2.GetId(), err)
	}
}

func TestNewNeedsBrokers(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without brokers: got nil error")
	}
}

// TestReleaseResetsRecord checks what a pooled record carries into its next
// use: nothing of the last event but the capacity of its buffer and headers,
// and none of the fields franz-go sets while producing.
func TestReleaseResetsRecord(t *testing.T) {
	p := offline(t, Options{})
	first := valid()
	first.Tenants = []string{"acme", "acme-eu", "acme-us"}
	pe, err := p.prepare(first)
	if err != nil {
		t.Fatal(err)
	}
	// What franz-go writes into a record it produces.
	pe.rec.Partition, pe.rec.Offset, pe.rec.Timestamp = 3, 1234, time.Now()
	pe.rec.Context = context.Background()
	pe.ev, pe.done = first, func(*auditv1.Event, error) {}
	buf, headers := cap(pe.buf), cap(pe.rec.Headers)

	p.release(pe)
	if pe.ev != nil || pe.done != nil {
		t.Error("release kept the event or its callback")
	}
	if pe.rec.Partition != 0 || pe.rec.Offset != 0 || !pe.rec.Timestamp.IsZero() || pe.rec.Context != nil ||
		pe.rec.Key != nil || pe.rec.Value != nil || len(pe.rec.Headers) != 0 || pe.rec.Topic != "" {
		t.Errorf("released record: got %+v, want only an empty header slice", pe.rec)
	}
	if cap(pe.buf) != buf || cap(pe.rec.Headers) != headers {
		t.Errorf("capacity: got buffer %d and headers %d, want %d and %d kept", cap(pe.buf), cap(pe.rec.Headers), buf, headers)
	}
	for _, h := range pe.rec.Headers[:headers] {
		if h.Value != nil {
			t.Errorf("released headers still point into the buffer: %+v", h)
		}
	}

	// The next event, encoded into the same record and buffer, comes out as
	// a fresh encoding does.
	second := valid()
	second.ProjectId, second.Action = "P2", "LoginFailed"
	pe.buf, err = record.MarshalInto(&pe.rec, pe.buf, second, p.encoding)
	if err != nil {
		t.Fatal(err)
	}
	want, err := record.Marshal(second, p.encoding)
	if err != nil {
		t.Fatal(err)
	}
	if string(pe.rec.Key) != string(want.Key) || string(pe.rec.Value) != string(want.Value) || len(pe.rec.Headers) != len(want.Headers) {
		t.Fatalf("reused: got key %q, %d headers; want key %q, %d headers", pe.rec.Key, len(pe.rec.Headers), want.Key, len(want.Headers))
	}
	for i, h := range pe.rec.Headers {
		if h.Key != want.Headers[i].Key || string(h.Value) != string(want.Headers[i].Value) {
			t.Errorf("header %d: got %s=%q, want %s=%q", i, h.Key, h.Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
}

// BenchmarkPrepare is the SDK's own work for one PublishAsync, without
// Kafka: validate, encode into a pooled record, and recycle it as the
// promise does. The events are the benchmark's (bench/internal/workload):
// about 700 bytes, cycling through more than fit in a CPU cache.
//
//	go test -run '^$' -bench Prepare -benchmem .
func BenchmarkPrepare(b *testing.B) {
	p := offline(b, Options{})
	g := loadgen.New(loadgen.Config{Seed: 1, Tenants: 30, PadTo: 700})
	evs := make([]*auditv1.Event, 4096)
	for i := range evs {
		evs[i] = g.Next()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pe, err := p.prepare(evs[i%len(evs)])
		if err != nil {
			b.Fatal(err)
		}
		p.release(pe)
	}
}
