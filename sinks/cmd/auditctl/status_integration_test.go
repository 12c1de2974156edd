//go:build integration

package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/status"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// TestStatus: a Datadog connector whose topic is written in transactions,
// as the router writes it. Once the sink has delivered everything, status
// reads lag 0 on every partition although each partition's end is one
// past the committed offset (the commit marker); it names the sink as the
// group's one member, reports it ready with a last write, the filter in
// words, and the connector's dead letters by reason. With the sink
// stopped and 25 more events, the lag is 25 and the group has no member.
//
// The events are written to the connector topic directly, so they must
// pass the connector's filter as the router would have checked: the sink
// checks it again and dead-letters a mismatch (filter_mismatch), which
// would neither be delivered nor committed. Filters are case-sensitive.
func TestStatus(t *testing.T) {
	const id = "st-dd"
	tp := newTopics(t)
	topic := tp.connector(t, id, 3)
	in := startIntake(t)
	listen := proctest.FreeAddr(t)
	cfg := writeConfig(t, tp.header(t, proctest.FreeAddr(t))+fmt.Sprintf(`  - id: %s
    type: datadog
    listen: %s
    filter: {actions: {include: ["Login*"]}}
    batch: {max_events: 100, max_age: 500ms}
%s`, id, listen, ddYAML(t, in, ddKey)))

	pub := newPublisher(t, topic, 7, true)
	pub.gen = loadgen.New(loadgen.Config{Seed: 7, Actions: []string{"LoginSucceed", "LoginFailed"}})
	for range 4 {
		pub.publish(50)
	}
	// A sink-stage dead letter of this connector and a router-stage one.
	dl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.dlq))
	src := &kgo.Record{Topic: topic, Value: []byte("x")}
	if err := dl.ProduceSync(context.Background(),
		record.DeadLetter(src, tp.dlq, "sink:"+id, "rejected_by_intake", nil, 0),
		record.DeadLetter(src, tp.dlq, "sink:"+id, "rejected_by_intake", nil, 0),
		record.DeadLetter(&kgo.Record{Topic: tp.events, Value: []byte("{")}, tp.dlq, "router", "malformed_json", nil, 0),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	sink := startSink(t, cfg, id)
	sinkGroup := "auditstream-sink-" + id
	waitCommitted(t, tp.adm, sinkGroup, topic, true, 60*time.Second)

	var r status.Report
	eventually(t, 30*time.Second, "status to show the sink ready with one member", func() bool {
		code, out, errs := ctl(t, "status", "--config", cfg, "--json")
		if code != exitOK {
			t.Logf("status exit %d: %s", code, errs)
			return false
		}
		r = status.Report{}
		jsonOut(t, out, &r)
		c := r.Connectors[0]
		return len(c.Members) == 1 && c.Ready != nil && *c.Ready && c.LastWrite != nil
	})
	c := r.Connectors[0]
	markers := 0
	for _, p := range c.Partitions {
		if p.Lag != 0 {
			t.Errorf("partition %d: lag %d, want 0 (committed %d, end %d)", p.Partition, p.Lag, p.Committed, p.End)
		}
		markers += int(p.End - p.Committed)
	}
	if markers == 0 {
		t.Errorf("no partition ends past its committed offset: the test did not meet a transaction marker")
	}
	if c.Lag != 0 || c.LagApprox {
		t.Errorf("total lag %d (approx %v), want 0", c.Lag, c.LagApprox)
	}
	if !strings.Contains(c.Filter, `actions matching "Login*"`) {
		t.Errorf("filter in words: %q", c.Filter)
	}
	if got := c.DLQ["rejected_by_intake"]; got != 2 || len(c.DLQ) != 1 {
		t.Errorf("connector dead letters %v, want rejected_by_intake 2", c.DLQ)
	}
	if r.Router == nil || r.Router.DLQ["malformed_json"] != 1 {
		t.Errorf("router dead letters: %+v", r.Router)
	}
	if r.Router.Ready != nil || r.Router.Unreachable == "" {
		t.Errorf("the router is not running, yet status says ready=%v unreachable=%q", r.Router.Ready, r.Router.Unreachable)
	}
	t.Logf("caught up: lag 0 with %d markers past the committed offsets; last write %s", markers, c.LastWrite)

	// The text form says the same.
	code, text, _ := ctl(t, "status", "--config", cfg, "--connector", id)
	if code != exitOK || !strings.Contains(text, "lag: 0") || !strings.Contains(text, "ready: yes") || !strings.Contains(text, "rejected_by_intake 2") {
		t.Errorf("status text (exit %d):\n%s", code, text)
	}

	// --watch --json writes one report per line until interrupted.
	wctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	code, out, errs := ctlCtx(wctx, t, "status", "--config", cfg, "--connector", id, "--watch", "--every", "300ms", "--json")
	cancel()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) < 2 {
		t.Fatalf("status --watch: exit %d, %d lines\n%s", code, len(lines), errs)
	}
	for _, l := range lines {
		var w status.Report
		jsonOut(t, l, &w)
		if len(w.Connectors) != 1 || w.Connectors[0].Lag != 0 {
			t.Fatalf("status --watch line: %s", l)
		}
	}

	// Stopped, with 25 new events: lag 25, no member.
	sink.Stop()
	pub.publish(25)
	code, out, errs = ctl(t, "status", "--config", cfg, "--connector", id, "--json")
	if code != exitOK {
		t.Fatalf("status exit %d: %s", code, errs)
	}
	r = status.Report{}
	jsonOut(t, out, &r)
	c = r.Connectors[0]
	if c.Lag != 25 || len(c.Members) != 0 || r.Router != nil {
		t.Errorf("after stopping the sink and 25 events: lag %d, members %d, router %v; want 25, 0, nil", c.Lag, len(c.Members), r.Router)
	}
	if c.Ready != nil {
		t.Errorf("the sink is stopped, yet status says ready=%v", *c.Ready)
	}
}

// TestStatusFindsReplicas: two replicas of a sink whose connector has no
// listen address, on one host. The first serves its admin endpoints at
// the default address, the second finds that port taken and takes a free
// one; auditctl status finds and asks both through the consumer group,
// with the admin token, which /metrics requires.
func TestStatusFindsReplicas(t *testing.T) {
	const id = "st-replicas"
	const token = "admin-token-for-the-test"
	t.Setenv("AUDITSTREAM_TEST_ADMIN_TOKEN", token)
	def := "http://" + config.DefaultSinkListen
	if resp, err := http.Get(def + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("something already serves %s: this test needs the default admin port free", def)
	}
	tp := newTopics(t)
	topic := tp.connector(t, id, 3)
	in := startIntake(t)
	cfg := writeConfig(t, tp.header(t, proctest.FreeAddr(t))+fmt.Sprintf(`  - id: %s
    type: datadog
    batch: {max_events: 100, max_age: 500ms}
%s
admin: {token: {env: AUDITSTREAM_TEST_ADMIN_TOKEN}}
`, id, ddYAML(t, in, ddKey)))
	newPublisher(t, topic, 3, true).publish(30)

	first := startSink(t, cfg, id)
	eventually(t, 30*time.Second, "the first sink to serve /readyz at the default address", func() bool {
		resp, err := http.Get(def + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	resp, err := http.Get(def + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: got %s, want 401", resp.Status)
	}
	second := startSink(t, cfg, id)

	var c status.Connector
	// A replica is ready before it has written anything: wait for the
	// last write too (the 30 events go out within max_age).
	eventually(t, 60*time.Second, "status to find both replicas, ready, and a last write", func() bool {
		code, out, errs := ctl(t, "status", "--config", cfg, "--connector", id, "--json")
		if code != exitOK {
			t.Logf("status exit %d: %s", code, errs)
			return false
		}
		var r status.Report
		jsonOut(t, out, &r)
		c = r.Connectors[0]
		ready := 0
		for _, rep := range c.Replicas {
			if rep.Ready != nil && *rep.Ready {
				ready++
			}
		}
		return len(c.Members) == 2 && len(c.Replicas) == 2 && ready == 2 && c.LastWrite != nil
	})
	admins := map[string]bool{}
	for _, m := range c.Members {
		admins[m.Admin] = true
	}
	if !admins[def] || len(admins) != 2 {
		t.Errorf("members advertise %v; want %s and another address", admins, def)
	}
	if c.Ready == nil || !*c.Ready {
		t.Errorf("both replicas ready, yet the connector reads ready=%v (%s)", c.Ready, c.ReadyDetail)
	}
	if c.LastWrite == nil {
		t.Errorf("no last write read from either replica's /metrics (with the token): %s", c.LastWriteFrom)
	}
	t.Logf("replicas at %v", admins)
	second.Stop()
	first.Stop()
}
