//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/auditstream/auditstream/ddintake"
	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/dlq"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// TestDLQRedriveSinkStage: the intake refuses one event (a poison fault),
// so the Datadog sink dead-letters it. dlq list and show find it, with
// its headers and decoded id. Redriven before the fix, it fails again and
// returns to the dead-letter topic with its history (redrive-of). After
// the fix (the fault removed), a redrive skips the first dead letter
// (redriven already) and sends the second back to the connector's topic
// only (not to the events topic), with provenance headers; the intake
// accepts the event exactly once. Another redrive sends nothing.
func TestDLQRedriveSinkStage(t *testing.T) {
	const id = "dl-dd"
	tp := newTopics(t)
	topic := tp.connector(t, id, 1)
	in := startIntake(t)
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+fmt.Sprintf(`  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_events: 500, max_age: 500ms}
%s`, id, ddYAML(t, in, ddKey)))
	group := "auditstream-sink-" + id
	pub := newPublisher(t, topic, 31, true)
	ids := pub.publish(200)
	poison := ids[57]
	if _, err := in.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: poison}); err != nil {
		t.Fatal(err)
	}
	startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 60*time.Second)
	if n := in.delivered()[poison]; n != 0 {
		t.Fatalf("the poison event was accepted %d times", n)
	}

	code, out, errs := ctl(t, "dlq", "list", "--config", cfg, "--connector", id, "--json")
	if code != exitOK {
		t.Fatalf("dlq list: exit %d\n%s", code, errs)
	}
	var letters []*dlq.Letter
	jsonOut(t, out, &letters)
	if len(letters) != 1 || letters[0].Preview.ID != poison || letters[0].Stage != "sink:"+id || letters[0].Reason != "rejected_by_intake" {
		t.Fatalf("dlq list: %s", out)
	}
	ref := letters[0].Ref.String()
	code, out, _ = ctl(t, "dlq", "show", ref, "--config", cfg)
	if code != exitOK || !strings.Contains(out, "dlq-error: ") || !strings.Contains(out, poison) || !strings.Contains(out, "read from "+topic+"/0/57") {
		t.Fatalf("dlq show (exit %d):\n%s", code, out)
	}

	// Redriven before the fix, it fails again and returns to the
	// dead-letter topic with its history.
	if code, out, errs := ctl(t, "dlq", "redrive", "--config", cfg, "--ref", ref, "--yes"); code != exitOK {
		t.Fatalf("redrive before the fix: exit %d\n%s\n%s", code, out, errs)
	}
	eventually(t, 30*time.Second, "the event back in the dead-letter topic", func() bool {
		_, out, _ := ctl(t, "dlq", "list", "--config", cfg, "--connector", id, "--json")
		letters = nil
		return json.Unmarshal([]byte(out), &letters) == nil && len(letters) == 2
	})
	first, second := letters[0], letters[1]
	if first.Ref.String() != ref || first.Redriven == "" || second.Preview.ID != poison || headerValues(second.Headers, dlq.HeaderOf) != ref {
		t.Fatalf("after a failed redrive: first %s redriven %q; second %s, event %s, redrive-of %q",
			first.Ref, first.Redriven, second.Ref, second.Preview.ID, headerValues(second.Headers, dlq.HeaderOf))
	}
	ref2 := second.Ref.String()

	in.ClearFaults() // the fix
	code, out, errs = ctl(t, "dlq", "redrive", "--config", cfg, "--connector", id, "--yes")
	if code != exitOK || !strings.Contains(out, ref2+" -> "+topic+"/0/") || !strings.Contains(errs, "skipped "+ref) {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errs)
	}
	eventually(t, 30*time.Second, "the redriven event at the intake", func() bool { return in.delivered()[poison] == 1 })
	waitCommitted(t, tp.adm, group, topic, true, 30*time.Second)

	recs := kafkatest.ReadAll(t, topic, 202, 10*time.Second)
	if len(recs) != 202 {
		t.Fatalf("the connector topic holds %d records, want 202", len(recs))
	}
	last := recs[len(recs)-1]
	var hs []dlq.Header
	for _, h := range last.Headers {
		hs = append(hs, dlq.Header{Key: h.Key, Value: string(h.Value)})
	}
	if got, want := headerValues(hs, dlq.HeaderOf), ref+" "+ref2; got != want {
		t.Errorf("redriven record's redrive-of history: got %q, want %q", got, want)
	}
	for key, want := range map[string]string{
		dlq.HeaderOf:             ref,
		"redrive-dlq-reason":     "rejected_by_intake",
		"redrive-dlq-stage":      "sink:" + id,
		"redrive-dlq-offset":     "57",
		record.HeaderContentType: record.ContentTypeProtobuf,
		record.HeaderDLQReason:   "",
	} {
		if got := record.HeaderValue(last.Headers, key); got != want {
			t.Errorf("redriven record header %s: got %q, want %q", key, got, want)
		}
	}
	if ev, err := record.Decode(last); err != nil || ev.GetId() != poison {
		t.Errorf("redriven record is not the poison event: %v", err)
	}
	if evs := kafkatest.ReadAll(t, tp.events, 0, time.Second); len(evs) != 0 {
		t.Errorf("a sink-stage redrive wrote %d records to the events topic", len(evs))
	}

	// Again: skipped.
	code, out, errs = ctl(t, "dlq", "redrive", "--config", cfg, "--connector", id, "--yes")
	if code != exitOK || !strings.Contains(errs, "skipped "+ref2) || strings.Contains(out, "->") {
		t.Fatalf("second redrive: exit %d\n%s\n%s", code, out, errs)
	}
	time.Sleep(time.Second)
	if n := len(kafkatest.ReadAll(t, topic, 202, 5*time.Second)); n != 202 {
		t.Fatalf("after a second redrive the connector topic holds %d records, want 202", n)
	}
	if n := in.delivered()[poison]; n != 1 {
		t.Fatalf("the redriven event was accepted %d times, want 1", n)
	}
	code, out, _ = ctl(t, "dlq", "list", "--config", cfg, "--json")
	letters = nil
	jsonOut(t, out, &letters)
	if code != exitOK || len(letters) != 2 || !strings.HasPrefix(letters[0].Redriven, topic+"/0/") || !strings.HasPrefix(letters[1].Redriven, topic+"/0/") {
		t.Fatalf("dlq list after the redrive (markers must not be listed; the letter says where it went): %s", out)
	}
}

// headerValues joins the values of every header key, in order.
func headerValues(hs []dlq.Header, key string) string {
	var vs []string
	for _, h := range hs {
		if h.Key == key {
			vs = append(vs, h.Value)
		}
	}
	return strings.Join(vs, " ")
}

// TestDLQRedriveRouterStage: a router-stage dead letter goes back to the
// events topic, once, with provenance; a truncated one is refused with a
// reason (exit 1). A second redrive sends nothing.
func TestDLQRedriveRouterStage(t *testing.T) {
	tp := newTopics(t)
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+`  - id: none
    type: datadog
    datadog: {url: "http://127.0.0.1:1", api_key: {env: PATH}}
`)
	gen := loadgen.New(loadgen.Config{Seed: 5})
	good, big := gen.Next(), gen.Next()
	big.Data = &structpb.Struct{Fields: map[string]*structpb.Value{"blob": structpb.NewStringValue(strings.Repeat("x", 4000))}}
	rg, err := record.Marshal(good, record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := record.Marshal(big, record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	rg.Topic, rb.Topic = tp.events, tp.events
	truncated := record.DeadLetter(rb, tp.dlq, "router", "header_mismatch", nil, 1500)
	if record.HeaderValue(truncated.Headers, record.HeaderDLQTruncated) != "true" {
		t.Fatal("the test's dead letter was not truncated")
	}
	cl := kafkatest.Client(t)
	if err := cl.ProduceSync(context.Background(),
		record.DeadLetter(rg, tp.dlq, "router", "header_mismatch", nil, 0), truncated).FirstErr(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := ctl(t, "dlq", "redrive", "--config", cfg, "--stage", "router", "--yes")
	if code != exitProblem || !strings.Contains(errs, "refused "+tp.dlq+"/0/1") || !strings.Contains(errs, "truncated") || !strings.Contains(out, tp.dlq+"/0/0 -> "+tp.events+"/") {
		t.Fatalf("redrive: exit %d, want 1 (one refused)\n%s\n%s", code, out, errs)
	}
	recs := kafkatest.ReadAll(t, tp.events, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("the events topic holds %d records, want 1", len(recs))
	}
	if ev, err := record.Decode(recs[0]); err != nil || ev.GetId() != good.GetId() {
		t.Fatalf("the redriven record is not the event: %v", err)
	}
	if got := record.HeaderValue(recs[0].Headers, dlq.HeaderOf); got != tp.dlq+"/0/0" {
		t.Errorf("redrive-of: %q", got)
	}
	code, _, errs = ctl(t, "dlq", "redrive", "--config", cfg, "--stage", "router", "--yes")
	if code != exitProblem || !strings.Contains(errs, "skipped "+tp.dlq+"/0/0") {
		t.Fatalf("second redrive: exit %d\n%s", code, errs)
	}
	if n := len(kafkatest.ReadAll(t, tp.events, 1, 3*time.Second)); n != 1 {
		t.Fatalf("after a second redrive the events topic holds %d records, want 1", n)
	}
	_ = kgo.Record{}
}
