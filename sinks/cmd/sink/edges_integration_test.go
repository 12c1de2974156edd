//go:build integration

package main

// End-to-end tests of the sink runtime's edges (issue 10) on the real
// Kafka: partitions paused for backpressure that change hands, the lag of a
// transactional topic, and the filter re-check of records written past the
// router.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/ddintake"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// TestDDPausedPartitionsSurviveScaleOutAndIn: the destination is slow, so
// the sink pauses its partitions (backpressure). A second replica joins and
// takes some of them, then leaves, and they come back to the first, which
// franz-go still has paused unless the sink resumed them. Every event is
// delivered, and the first replica's paused gauge comes back to 0.
func TestDDPausedPartitionsSurviveScaleOutAndIn(t *testing.T) {
	c := newDDConnector(t, "dd-pause", 3, "{max_events: 100, max_age: 200ms}", 61)
	if _, err := c.in.Inject(ddintake.Fault{Kind: ddintake.KindLatency, Latency: 60 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(kafkatest.Client(t))
	c.pub.publish(30_000, nil) // about 4 MiB a partition; a partition queues 1 MiB before it pauses
	first := c.start(t)
	eventually(t, 30*time.Second, "the first replica to pause a partition", func() bool {
		return first.Metric("auditstream_sink_paused_partitions") >= 1
	})
	second := c.start(t)
	eventually(t, 40*time.Second, "two members", func() bool { return groupMembers(t, adm, c.group) == 2 })
	eventually(t, 40*time.Second, "the second replica to deliver", func() bool {
		return second.Metric("auditstream_sink_delivered_total") > 0
	})
	t.Logf("scaled out: the first replica had %v partitions paused", first.Metric("auditstream_sink_paused_partitions"))
	second.Stop(40 * time.Second)
	eventually(t, 40*time.Second, "one member", func() bool { return groupMembers(t, adm, c.group) == 1 })
	waitCommitted(t, c.group, c.topic, 120*time.Second)
	c.checkDelivered(t)
	eventually(t, 10*time.Second, "the paused gauge back to 0", func() bool {
		return first.Metric("auditstream_sink_paused_partitions") == 0
	})
	if !first.Ready() {
		t.Error("/readyz: not ready after everything was delivered")
	}
}

// TestDDLagIsZeroAtRest: the router writes its connector topics in
// transactions, so each partition's log ends with a commit marker. Once
// the sink has delivered everything, each partition's lag reads 0.
func TestDDLagIsZeroAtRest(t *testing.T) {
	c := newDDConnector(t, "dd-lag", 3, "{max_events: 500, max_age: 200ms}", 62)
	txn := kafkatest.Client(t, kgo.TransactionalID(fmt.Sprintf("lag-test-%d", time.Now().UnixNano())), kgo.DefaultProduceTopic(c.topic))
	ctx := context.Background()
	for range 3 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range 500 {
			ev := c.pub.gen.Next()
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			c.pub.want[ev.GetId()] = true
			txn.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	sink := c.start(t)
	eventually(t, 60*time.Second, "every event delivered", func() bool {
		return sink.Metric("auditstream_sink_delivered_total") == 1500
	})
	lagSeries := regexp.MustCompile(`(?m)^auditstream_sink_lag\{[^}]*partition="(\d)"[^}]*\} (\S+)$`)
	var last string
	eventually(t, 10*time.Second, "lag 0 on every partition", func() bool {
		resp, err := http.Get(sink.adminURL("/metrics"))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := lagSeries.FindAllStringSubmatch(string(b), -1)
		last = fmt.Sprint(m)
		if len(m) != 3 {
			return false
		}
		for _, s := range m {
			if s[2] != "0" {
				return false
			}
		}
		return true
	})
	c.checkDelivered(t)
	t.Logf("lag series at rest: %s", last)
}

// TestDDFilterMismatchIsDeadLettered: records written straight to the
// connector topic, past the router, with headers that lie: the sink
// decodes each event and re-checks the connector's filter. Those it
// rejects are dead-lettered as filter_mismatch, counted, and never reach
// Datadog.
func TestDDFilterMismatchIsDeadLettered(t *testing.T) {
	c := newDDConnector(t, "dd-filter", 2, "{max_events: 100, max_age: 200ms}", 63)
	appendConfig(t, c.cfg, "    filter: {tenants: {include: [acme]}}\n")
	var recs []*kgo.Record
	var rejected []string
	for i := range 300 {
		ev := c.pub.gen.Next()
		ev.Tenants = []string{"acme"}
		switch i % 3 {
		case 1:
			ev.Tenants = []string{"globex"}
		case 2:
			ev.Tenants = []string{"acme", "globex-test"}
		}
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			rejected = append(rejected, ev.GetId())
			r.Headers = lie(r.Headers)
		}
		c.pub.want[ev.GetId()] = true
		r.Topic = c.topic
		recs = append(recs, r)
	}
	if err := c.pub.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sink := c.start(t)
	dl := c.readDLQ(t, len(rejected))
	for _, id := range rejected {
		r, ok := dl[id]
		if !ok {
			t.Fatalf("event %s of tenant globex is not in the dead-letter topic", id)
		}
		if got := header(r, record.HeaderDLQReason); got != record.ReasonFilterMismatch {
			t.Errorf("event %s: dlq-reason %q, want %s", id, got, record.ReasonFilterMismatch)
		}
	}
	waitCommitted(t, c.group, c.topic, 60*time.Second)
	c.checkDelivered(t, rejected...)
	if got := sink.Metric("auditstream_sink_filter_mismatch_total", `connector="dd-filter"`); got != float64(len(rejected)) {
		t.Errorf("auditstream_sink_filter_mismatch_total: got %v, want %d", got, len(rejected))
	}
}

// lie replaces a record's tenant headers with tenant=acme, as a producer
// that bypasses the router could write them.
func lie(hs []kgo.RecordHeader) []kgo.RecordHeader {
	out := hs[:0:0]
	for _, h := range hs {
		if h.Key != record.HeaderTenant {
			out = append(out, h)
		}
	}
	return append(out, kgo.RecordHeader{Key: record.HeaderTenant, Value: []byte("acme")})
}

// appendConfig appends lines to a pipeline file.
func appendConfig(t *testing.T, path, lines string) {
	t.Helper()
	b := proctest.ReadFile(t, path)
	if err := os.WriteFile(path, []byte(b+"\n"+lines), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDDNotReadyWhileDeadLettersFail: a record that is not an event must
// go to the dead-letter topic, which does not exist. Its partition cannot
// make progress, and /readyz says so until the topic exists; then the
// record is dead-lettered and everything after it delivered.
func TestDDNotReadyWhileDeadLettersFail(t *testing.T) {
	c := newDDConnector(t, "dd-ready", 1, "{max_events: 100, max_age: 200ms}", 64)
	adm := kadm.NewClient(kafkatest.Client(t))
	if _, err := adm.DeleteTopics(context.Background(), c.dlq); err != nil {
		t.Fatal(err)
	}
	c.pub.publish(50, nil)
	bad := &kgo.Record{Topic: c.topic, Value: []byte{0xff, 0xff, 0xff}}
	if err := c.pub.cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.pub.publish(50, nil)
	sink := c.start(t)
	eventually(t, 30*time.Second, "the dead letter to fail", func() bool {
		return strings.Contains(sink.Log(), "dead-letter produce")
	})
	for range 5 {
		if sink.Ready() {
			t.Fatal("/readyz: ready while a record cannot be dead-lettered")
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := adm.CreateTopic(context.Background(), 1, 1, nil, c.dlq)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", c.dlq, err, resp.Err)
	}
	eventually(t, 60*time.Second, "ready again", sink.Ready)
	waitCommitted(t, c.group, c.topic, 60*time.Second)
	c.checkDelivered(t)
	if dl := kafkatest.ReadAll(t, c.dlq, 1, 30*time.Second); len(dl) != 1 {
		t.Errorf("%s holds %d records, want the one that is not an event", c.dlq, len(dl))
	}
}

// TestDDDrainWaitsForRebalance: a replica is stopped while it holds
// thousands of events for a slow destination, and drains; meanwhile a new
// replica joins. The rebalance must wait for the draining replica's
// in-flight writes and commits: no committed offset ever moves backwards,
// and no event is delivered twice.
func TestDDDrainWaitsForRebalance(t *testing.T) {
	c := newDDConnector(t, "dd-drain", 3, "{max_events: 100, max_age: 5s}", 65)
	if _, err := c.in.Inject(ddintake.Fault{Kind: ddintake.KindLatency, Latency: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(kafkatest.Client(t))
	c.pub.publish(15_000, nil)
	first := c.start(t)
	eventually(t, 30*time.Second, "the first replica to hold a backlog", func() bool {
		return first.Metric("auditstream_sink_paused_partitions") >= 2
	})
	var backwards []string
	watching, stopWatching := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		last := map[int32]int64{}
		for watching.Err() == nil {
			got, err := adm.FetchOffsets(context.Background(), c.group)
			if err == nil {
				got.Each(func(o kadm.OffsetResponse) {
					if o.Topic != c.topic || o.Err != nil {
						return
					}
					if o.At < last[o.Partition] && len(backwards) < 5 {
						backwards = append(backwards, fmt.Sprintf("partition %d: %d after %d", o.Partition, o.At, last[o.Partition]))
					}
					last[o.Partition] = max(last[o.Partition], o.At)
				})
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stopped := make(chan struct{})
	go func() { first.Stop(60 * time.Second); close(stopped) }()
	time.Sleep(300 * time.Millisecond)
	second := c.start(t)
	<-stopped
	waitCommitted(t, c.group, c.topic, 120*time.Second)
	stopWatching()
	<-watched
	if len(backwards) > 0 {
		t.Errorf("committed offsets moved backwards: %v", backwards)
	}
	dupIDs, dupCopies := c.checkDelivered(t)
	if dupIDs > 0 {
		t.Errorf("%d events delivered more than once (%d extra copies): the new owner started before the draining one committed", dupIDs, dupCopies)
	}
	t.Logf("the new replica delivered %v of %d", second.Metric("auditstream_sink_delivered_total"), len(c.pub.want))
}
