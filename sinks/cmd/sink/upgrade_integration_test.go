//go:build integration

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/pipeline"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// TestS3RollingUpgradeBuildsDisagree: an earlier build of the sink (here,
// one without the filter re-check) began a delivery of offsets 0-19 and
// died after its first object; the delivery's last record is one this
// build dead-letters (its tenant is not the connector's). This build
// cannot finish that delivery as it was claimed. What happens, as defined:
// it writes nothing over it and commits nothing past it, dead-letters the
// record, and is not ready, naming the offset. Once the build that began
// the delivery has finished it (and committed past it), this build goes on
// from there: every event is in exactly one object.
//
// The disagreement stays on the record, as it should: offset 19 is then
// both in the earlier build's object and in this build's dead-letter topic
// (this build dead-letters a record when it reads it, before any write
// tells it that an earlier delivery covers it). sink verify reports exactly
// that, on delivery 0-19 and nothing else: dlq_overlap (an object of the
// delivery ends at offset 19, which Kafka's DLQ holds) and count (the
// delivery holds 20 records where Kafka has 19 data records, one being
// dead-lettered: the same record, seen from the delivery's size). An
// auditor must see it: the earlier build archived an event that this build
// finds is not the connector's.
func TestS3RollingUpgradeBuildsDisagree(t *testing.T) {
	const id, group = "upgrade", "auditstream-sink-upgrade"
	base, prefix, topic := connectorTopic(t, id, 1)
	adm := kadm.NewClient(kafkatest.Client(t))
	dlq := base + ".dlq"
	if resp, err := adm.CreateTopic(context.Background(), 1, 1, nil, dlq); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", dlq, err, resp.Err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq) })
	st := newBucket(t)
	cfg := writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 1000, max_bytes: 4MiB, max_age: 300ms}")+
		"    filter: {tenants: {include: [acme]}}\n")

	// Twenty events in two projects (two objects), the last of tenant globex.
	pub := newPublisher(t, topic, 71)
	var items []batch.Item
	var p1, p2 string
	i := 0
	pub.publish(20, func(ev *auditv1.Event) {
		switch {
		case i == 0:
			p1 = ev.GetProjectId()
		case p2 == "" && ev.GetProjectId() != p1:
			p2 = ev.GetProjectId()
		}
		ev.Tenants = []string{"acme"}
		if i == 19 {
			ev.Tenants = []string{"globex"}
		}
		i++
	})
	for _, r := range kafkatest.ReadAll(t, topic, 20, 30*time.Second) {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, batch.Item{Offset: r.Offset, Event: ev, Size: len(r.Value)})
	}
	if p2 == "" || len(items) != 20 {
		t.Fatalf("want 20 events in two projects; got %d, projects %q %q", len(items), p1, p2)
	}

	// The earlier build: its first object is written, then it dies (a
	// proxy in front of MinIO refuses every data PUT after the first).
	var puts atomic.Int32
	target, err := url.Parse(st.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".ndjson.gz") && puts.Add(1) > 1 {
			http.Error(w, "the earlier build died", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	viaProxy := *st
	viaProxy.endpoint = proxy.URL
	earlier := func(store *s3Store) error {
		p, err := pipeline.Load(writeConfig(t, s3Pipeline(t, store, id, base, prefix, "{max_events: 1000}")))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := p.Connector(id)
		w, err := s3sink.New(context.Background(), s3sink.Options{Connector: c})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Write(context.Background(), &batch.Batch{Topic: topic, Partition: 0, Start: 0, Items: items})
		return err
	}
	if err := earlier(&viaProxy); err == nil {
		t.Fatal("the earlier build's write succeeded; want it to die after its first object")
	}
	if _, objects := st.readAll(t, "e2e"); objects != 1 {
		t.Fatalf("the earlier build left %d objects, want 1", objects)
	}

	// This build.
	sink := startSink(t, cfg, id)
	var reason string
	eventually(t, 60*time.Second, "this build to say it cannot adopt", func() bool {
		reason = readyz(t, sink)
		return strings.Contains(reason, "dead-lettered offsets [19]")
	})
	t.Logf("/readyz: %s", reason)
	dl := kafkatest.ReadAll(t, dlq, 1, 30*time.Second)
	if len(dl) != 1 || header(dl[0], record.HeaderDLQReason) != record.ReasonFilterMismatch {
		t.Fatalf("dead letters: got %d, want the globex event as filter_mismatch", len(dl))
	}
	if got := committed(t, adm, group, topic); got[0] > 0 {
		t.Errorf("committed %d, past the start of the delivery this build cannot finish", got[0])
	}
	if _, objects := st.readAll(t, "e2e"); objects != 1 {
		t.Errorf("%d objects after this build tried, want the earlier build's 1: nothing written over it", objects)
	}
	sink.Kill()

	// The earlier build finishes its delivery and commits past it.
	if err := earlier(st); err != nil {
		t.Fatalf("the earlier build finishing its delivery: %v", err)
	}
	// (Its runtime would commit 20; the killed member leaves the group
	// once its session times out, and then the group takes the commit.)
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 20, LeaderEpoch: -1})
	eventually(t, 30*time.Second, "the commit past the delivery", func() bool {
		resp, err := adm.CommitOffsets(context.Background(), group, offsets)
		return err == nil && resp.Error() == nil
	})

	pub.publish(10, func(ev *auditv1.Event) { ev.Tenants = []string{"acme"} })
	sink = startSink(t, cfg, id)
	waitCommitted(t, group, topic, 60*time.Second)
	eventually(t, 10*time.Second, "ready", sink.Ready)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects", len(pub.want), objects)
	verifyDisagreement(t, cfg, id, len(pub.want), 0, 19, 19)
}

// verifyDisagreement runs sink verify and wants, as the only problems, the
// two that a rolling upgrade's disagreement on one record leaves on the
// delivery first-last that holds it: the record (at offset dead) is in an
// object and in the DLQ (dlq_overlap), and so the delivery holds one record
// more than Kafka has data records in its range (count).
func verifyDisagreement(t *testing.T, cfg, connector string, wantEvents int, first, last, dead int64) {
	t.Helper()
	cmd := exec.Command(sinkBin, "verify", "--json", "--config", cfg, "--connector", connector)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("sink verify: %v\n%s", err, out)
	}
	var rep s3sink.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("sink verify's report: %v\n%s", err, out)
	}
	if err == nil {
		t.Errorf("sink verify exited 0; want 1 (it found problems)")
	}
	var got []string
	for _, p := range rep.BucketProblems {
		got = append(got, "bucket "+p.Kind+": "+p.Detail)
	}
	for _, pr := range rep.Partitions {
		for _, p := range pr.Problems {
			got = append(got, fmt.Sprintf("partition %d %s: %s", pr.Partition, p.Kind, p.Detail))
		}
	}
	want := []string{
		fmt.Sprintf("partition 0 %s: delivery %d-%d holds %d records, Kafka has %d data records there (1 dead-lettered, 0 markers, 0 aborted): "+
			"records that Kafka does not have there (duplicates or foreign records)", s3sink.ProblemCount, first, last, last-first+1, last-first),
		fmt.Sprintf("partition 0 %s: an object of delivery %d-%d begins or ends at offset %d, which Kafka holds as dlq, not a data record",
			s3sink.ProblemDLQOverlap, first, last, dead),
	}
	slices.Sort(got)
	if rep.Events != int64(wantEvents) || !slices.Equal(got, want) {
		t.Fatalf("verify: %d events, problems\n\t%s\nwant %d events, problems\n\t%s\n%s",
			rep.Events, strings.Join(got, "\n\t"), wantEvents, strings.Join(want, "\n\t"), out)
	}
}

// readyz returns /readyz's answer.
// With no admin token configured the body carries no reason (it may name
// internal addresses); the sink logs it instead, so the log's latest "not
// ready" line is appended.
func readyz(t *testing.T, p *sinkProc) string {
	t.Helper()
	resp, err := http.Get(p.adminURL("/readyz"))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	logged := ""
	for _, l := range strings.Split(p.Log(), "\n") {
		if strings.Contains(l, `msg="not ready"`) {
			logged = l
		}
	}
	return string(b) + " " + logged
}
