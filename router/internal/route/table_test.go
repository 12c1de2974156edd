package route

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

func table(t *testing.T) *Table {
	t.Helper()
	p := &config.Pipeline{
		Topics: config.Topics{DLQ: config.Topic{Name: "audit.dlq"}, ConnectorPrefix: "audit.connector."},
		Router: config.Router{MaxEventBytes: 4096},
		Connectors: []config.Connector{
			{ID: "logins", Filter: config.Filter{Actions: config.Patterns{Include: []string{"Login*"}}}},
			{ID: "acme", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}},
		},
	}
	tb, err := NewTable(p)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func event(action string, tenants ...string) *auditv1.Event {
	return &auditv1.Event{Id: "e1", ProjectId: "P1", Action: action, Tenants: tenants,
		Occurred: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
}

func topicsOf(rs []*kgo.Record) string {
	var ts []string
	for _, r := range rs {
		ts = append(ts, r.Topic)
	}
	return strings.Join(ts, ",")
}

func TestRouteContractRecords(t *testing.T) {
	tb := table(t)
	tests := []struct {
		name string
		ev   *auditv1.Event
		want string
	}{
		{"both", event("LoginSucceed", "acme"), "audit.connector.logins,audit.connector.acme"},
		{"logins only", event("LoginFailed", "globex"), "audit.connector.logins"},
		{"acme only", event("UserCreated", "acme"), "audit.connector.acme"},
		{"neither", event("UserCreated", "globex"), ""},
		{"tenantless", event("UserCreated"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := record.Marshal(tt.ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			out, o := tb.Route(in, nil)
			if got := topicsOf(out); got != tt.want {
				t.Errorf("topics: got %q, want %q", got, tt.want)
			}
			if o.DLQReason != "" {
				t.Errorf("DLQ reason %q, want none", o.DLQReason)
			}
			for _, r := range out {
				if string(r.Value) != string(in.Value) || string(r.Key) != string(in.Key) {
					t.Errorf("%s: the value or key was changed", r.Topic)
				}
			}
		})
	}
}

// A record without contract headers (kcat, say) is decoded, validated and
// rewritten into a contract record, with an id derived from its position.
func TestRouteHeaderless(t *testing.T) {
	tb := table(t)
	in := &kgo.Record{Topic: "audit.events", Partition: 2, Offset: 77,
		Value: []byte(`{"projectId":"P1","action":"LoginSucceed","tenants":["acme"],"occurred":"2026-01-02T03:04:05Z"}`)}
	out, o := tb.Route(in, nil)
	if got, want := topicsOf(out), "audit.connector.logins,audit.connector.acme"; got != want || o.DLQReason != "" {
		t.Fatalf("got %q (dlq %q), want %q", got, o.DLQReason, want)
	}
	ev, err := record.Decode(out[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetId() == "" {
		t.Fatal("no id was derived")
	}
	again, _ := tb.Route(in, nil)
	if ev2, _ := record.Decode(again[0]); ev2.GetId() != ev.GetId() {
		t.Errorf("derived id differs on replay: %s then %s", ev.GetId(), ev2.GetId())
	}
	if m, ok := record.MetaFromHeaders(out[0].Headers); !ok || m.Action != "LoginSucceed" {
		t.Errorf("rewritten record lacks contract headers: %+v", out[0].Headers)
	}
	if got := record.HeaderValue(out[0].Headers, record.HeaderContentType); got != record.ContentTypeJSON {
		t.Errorf("content-type: got %q, want the input's JSON", got)
	}
}

func TestRouteDeadLetters(t *testing.T) {
	tb := table(t)
	tests := []struct {
		name   string
		rec    *kgo.Record
		reason string
	}{
		{"bad json", &kgo.Record{Value: []byte(`{"projectId":`)}, record.ReasonMalformedJSON},
		{"bad protobuf", &kgo.Record{Value: []byte("\xff\xff\xff\xff")}, record.ReasonMalformedProtobuf},
		{"missing project", &kgo.Record{Value: []byte(`{"action":"A","occurred":"2026-01-02T03:04:05Z"}`)}, "missing_projectId"},
		{"missing occurred", &kgo.Record{Value: []byte(`{"projectId":"P","action":"A"}`)}, "missing_occurred"},
		{"bad tenant", &kgo.Record{Value: []byte(`{"projectId":"P","action":"A","occurred":"2026-01-02T03:04:05Z","tenants":["a,b"]}`)}, "invalid_tenants"},
		{"unknown content type", &kgo.Record{Value: []byte("a,b"), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("text/csv")}}}, record.ReasonContentType},
		{"too large", &kgo.Record{Value: make([]byte, 4097), Headers: []kgo.RecordHeader{{Key: "project", Value: []byte("P")}, {Key: "action", Value: []byte("A")}}}, record.ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rec.Topic, tt.rec.Partition, tt.rec.Offset = "audit.events", 1, 9
			out, o := tb.Route(tt.rec, nil)
			if len(out) != 1 || out[0].Topic != "audit.dlq" {
				t.Fatalf("got %q, want one dead letter", topicsOf(out))
			}
			if o.DLQReason != tt.reason {
				t.Errorf("outcome reason: got %q, want %q", o.DLQReason, tt.reason)
			}
			if got := record.HeaderValue(out[0].Headers, record.HeaderDLQReason); got != tt.reason {
				t.Errorf("dlq-reason header: got %q, want %q", got, tt.reason)
			}
			if got := record.HeaderValue(out[0].Headers, record.HeaderDLQOffset); got != "9" {
				t.Errorf("dlq-offset header: got %q, want 9", got)
			}
			if string(out[0].Value) != string(tt.rec.Value) {
				t.Error("the dead letter's value is not the original")
			}
		})
	}
}
