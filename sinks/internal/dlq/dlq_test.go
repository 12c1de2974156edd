package dlq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

// letter is a dead letter of r as the given stage wrote it, read back at
// dlq/0/offset.
func letter(t *testing.T, r *kgo.Record, stage, reason string, max int, offset int64) *Letter {
	t.Helper()
	d := record.DeadLetter(r, "audit.dlq", stage, reason, errors.New("boom"), max)
	d.Partition, d.Offset, d.Timestamp = 0, offset, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return letterOf(d)
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"audit.dlq/0/12", true}, {"audit.dlq/0", false}, {"a/b/c/1", false}, {"audit.dlq/x/1", false}, {"audit.dlq/0/-1", false},
	} {
		r, err := ParseRef(tc.in)
		if (err == nil) != tc.ok || (tc.ok && r.String() != tc.in) {
			t.Errorf("ParseRef(%q) = %v, %v; want ok %v", tc.in, r, err, tc.ok)
		}
	}
}

func TestTargets(t *testing.T) {
	p := &config.Pipeline{Path: "p.yaml", Connectors: []config.Connector{{ID: "dd"}}}
	p.Topics.Events.Name, p.Topics.DLQ.Name, p.Topics.ConnectorPrefix = "audit.events", "audit.dlq", "audit.connector."
	src := func(topic string) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(strings.Repeat("v", 2000)), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
	}
	redriven := letter(t, src("audit.events"), "router", "invalid", 0, 4)
	redriven.Redriven = "audit.events/1/7"
	for _, tc := range []struct {
		name           string
		l              *Letter
		topic, refused string
		skipped        bool
	}{
		{"router to events", letter(t, src("audit.events"), "router", "malformed_json", 0, 0), "audit.events", "", false},
		{"sink to its connector only", letter(t, src("audit.connector.dd"), "sink:dd", "rejected_by_intake", 0, 1), "audit.connector.dd", "", false},
		{"unknown connector", letter(t, src("audit.connector.gone"), "sink:gone", "rejected_by_intake", 0, 2), "", "no connector", false},
		{"truncated", letter(t, src("audit.events"), "router", "too_large", 600, 3), "", "truncated", false},
		{"source disagrees", letter(t, src("other"), "router", "invalid", 0, 5), "", "refusing to guess", false},
		{"unknown stage", letter(t, src("audit.events"), "mystery", "invalid", 0, 6), "", "unknown stage", false},
		{"redriven already", redriven, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Targets(p, []*Letter{tc.l})[0]
			if got.Topic != tc.topic || (tc.refused == "") != (got.Refused == "") || !strings.Contains(got.Refused, tc.refused) || (got.Skipped != "") != tc.skipped {
				t.Fatalf("got topic %q refused %q skipped %q; want %q, %q, %v", got.Topic, got.Refused, got.Skipped, tc.topic, tc.refused, tc.skipped)
			}
		})
	}
}

func TestRedrivenKeepsProvenance(t *testing.T) {
	src := &kgo.Record{Topic: "audit.connector.dd", Key: []byte("k"), Value: []byte("{}"),
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}, {Key: "redrive-of", Value: []byte("audit.dlq/0/1")}}}
	l := letter(t, src, "sink:dd", "rejected_by_intake", 0, 9)
	r := Redriven(l, "audit.connector.dd", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	var keys []string
	for _, h := range r.Headers {
		keys = append(keys, h.Key+"="+string(h.Value))
	}
	got := strings.Join(keys, " ")
	want := "content-type=application/json redrive-of=audit.dlq/0/1 redrive-dlq-stage=sink:dd redrive-dlq-reason=rejected_by_intake " +
		"redrive-dlq-error=boom redrive-dlq-topic=audit.connector.dd redrive-dlq-partition=0 redrive-dlq-offset=0 " +
		"redrive-of=audit.dlq/0/9 redrive-at=2026-03-02T00:00:00Z"
	if got != want {
		t.Fatalf("headers:\n got %s\nwant %s", got, want)
	}
	if string(r.Key) != "k" || string(r.Value) != "{}" || r.Topic != "audit.connector.dd" {
		t.Fatalf("got %s %q %q", r.Topic, r.Key, r.Value)
	}
}

func TestFilterMatch(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := &Letter{Ref: Ref{"audit.dlq", 0, 3}, Time: at, Stage: "sink:dd", Reason: "rejected_by_intake"}
	for _, tc := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"all", Filter{}, true},
		{"reason", Filter{Reason: "rejected_by_intake"}, true},
		{"other reason", Filter{Reason: "too_large"}, false},
		{"any sink", Filter{Stage: "sink"}, true},
		{"router", Filter{Stage: "router"}, false},
		{"exact stage", Filter{Stage: "sink:dd"}, true},
		{"connector", Filter{Connector: "dd"}, true},
		{"other connector", Filter{Connector: "s3"}, false},
		{"since", Filter{Since: at}, true},
		{"since later", Filter{Since: at.Add(time.Second)}, false},
		{"until is exclusive", Filter{Until: at}, false},
		{"ref", Filter{Refs: []Ref{{"audit.dlq", 0, 3}}}, true},
		{"other ref", Filter{Refs: []Ref{{"audit.dlq", 0, 4}}}, false},
	} {
		if got := tc.f.Match(l); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
