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

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// offline returns a Producer whose broker does not exist: validation fails
// before anything is sent, so these tests need no Kafka.
func offline(t *testing.T, o Options) *Producer {
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
	r, err := p.record(ev)
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(ev.GetId())
	if err != nil || id.Version() != 7 {
		t.Fatalf("id %q: got version %d, %v; want a UUIDv7", ev.GetId(), id.Version(), err)
	}
	if r.Topic != DefaultTopic {
		t.Errorf("topic: got %q, want %q", r.Topic, DefaultTopic)
	}
	ev2 := valid()
	ev2.Id = "caller-chosen"
	if _, err := p.record(ev2); err != nil || ev2.GetId() != "caller-chosen" {
		t.Errorf("a caller's id must be kept: got %q, %v", ev2.GetId(), err)
	}
}

func TestNewNeedsBrokers(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without brokers: got nil error")
	}
}
