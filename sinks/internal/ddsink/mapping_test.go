package ddsink

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/ddintake"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// messageEvent decodes a log message back into the event.
func messageEvent(t *testing.T, msg string) *auditv1.Event {
	t.Helper()
	var ev auditv1.Event
	if err := protojson.Unmarshal([]byte(msg), &ev); err != nil {
		t.Fatalf("message %.200q is not an event's protojson: %v", msg, err)
	}
	return &ev
}

func TestMapping(t *testing.T) {
	occurred := epoch.Add(1234567 * time.Microsecond) // sub-millisecond part is dropped
	tests := []struct {
		name     string
		event    *auditv1.Event
		wantTags []string
	}{
		{
			name: "tenants and type",
			event: &auditv1.Event{Id: "a", ProjectId: "p1", Action: "UserCreated", Type: "warn",
				Tenants: []string{"t1", "t2"}, LoginIds: []string{"a@example.com"}, Occurred: timestamppb.New(occurred)},
			wantTags: []string{"project:p1", "tenant:t1", "tenant:t2", "action:UserCreated", "type:warn", "env:test", "team:sec"},
		},
		{
			name:     "no tenant, empty type is info",
			event:    &auditv1.Event{Id: "b", ProjectId: "p1", Action: "LoginSucceed", Occurred: timestamppb.New(occurred)},
			wantTags: []string{"project:p1", "action:LoginSucceed", "type:info", "env:test", "team:sec"},
		},
		{
			name: "separators in values do not split tags",
			event: &auditv1.Event{Id: "c", ProjectId: "p 1", Action: "a,b", Type: "error",
				Tenants: []string{"t,x"}, Occurred: timestamppb.New(occurred)},
			wantTags: []string{"project:p_1", "tenant:t_x", "action:a_b", "type:error", "env:test", "team:sec"},
		},
		{
			name: "separators beside characters beyond ASCII",
			event: &auditv1.Event{Id: "d", ProjectId: "日本 p", Action: "é,\tà", Tenants: []string{"t\u2028 ü"},
				Occurred: timestamppb.New(occurred)},
			wantTags: []string{"project:日本_p", "tenant:t\u2028_ü", "action:é__à", "type:info", "env:test", "team:sec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			res, err := f.w.Write(context.Background(), batchOf(7, tt.event))
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if res.Through != 7 || len(res.Rejected) != 0 {
				t.Errorf("result: got through %d, %d rejected; want through 7, none rejected", res.Through, len(res.Rejected))
			}
			logs := f.intake.Logs()
			if len(logs) != 1 {
				t.Fatalf("intake holds %d logs, want 1", len(logs))
			}
			l := logs[0]
			if got := messageEvent(t, l.Message); !proto.Equal(got, tt.event) {
				t.Errorf("message: got %v, want %v", got, tt.event)
			}
			if got := l.TagList(); !slices.Equal(got, tt.wantTags) {
				t.Errorf("ddtags: got %q, want %q", got, tt.wantTags)
			}
			if want := occurred.Truncate(time.Millisecond); !l.Timestamp.Equal(want) {
				t.Errorf("timestamp: got %v, want %v", l.Timestamp, want)
			}
			var ms int64
			if ok, err := l.Attribute(timestampAttr, &ms); !ok || err != nil || ms != occurred.UnixMilli() {
				t.Errorf("timestamp attribute: got %d (present %v, %v), want %d ms since the epoch", ms, ok, err, occurred.UnixMilli())
			}
			if l.Source != "auditstream" || l.Service != "audit-svc" || l.Hostname != "sink-0" {
				t.Errorf("ddsource, service, hostname: got %q, %q, %q; want auditstream, audit-svc, sink-0", l.Source, l.Service, l.Hostname)
			}
		})
	}
}

func TestHostnameDefaultsToSystem(t *testing.T) {
	c := connector("http://127.0.0.1:1", "/nonexistent")
	dd(c).Hostname = ""
	w, err := New(Options{Connector: c})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if w.mapper.hostname == nil || *w.mapper.hostname == "" {
		t.Errorf("hostname: got none, want the system's")
	}
}

func TestOldEventsAreSentAndCounted(t *testing.T) {
	tests := []struct {
		name    string
		age     time.Duration
		wantOld float64
	}{
		{"fresh", time.Minute, 0},
		{"17h", 17 * time.Hour, 0},
		{"19h", 19 * time.Hour, 1},
		{"a week", 7 * 24 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			ev := event(0)
			ev.Occurred = timestamppb.New(now().Add(-tt.age))
			if _, err := f.w.Write(context.Background(), batchOf(0, ev)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			f.checkOnce(t, []string{ev.Id})
			if got := testutil.ToFloat64(f.w.metrics.oldEvents); got != tt.wantOld {
				t.Errorf("old events counted: got %v, want %v", got, tt.wantOld)
			}
		})
	}
}
