package sink

// Tests of the runtime's edges (issue 10): rebalances while paused, the
// drain at shutdown, holds and the budget, rolling upgrades, the lag of a
// transactional topic, the filter re-check and readiness.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// slowWriter is a fakeWriter whose every write takes d.
func slowWriter(d time.Duration) *fakeWriter {
	w := newFakeWriter()
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		time.Sleep(d)
		return Result{Through: b.Last()}, nil
	}
	return w
}

// union counts the distinct ids that any of the writers delivered.
func union(ws ...*fakeWriter) map[string]int {
	out := map[string]int{}
	for _, w := range ws {
		w.mu.Lock()
		for id, n := range w.delivered {
			out[id] += n
		}
		w.mu.Unlock()
	}
	return out
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestPausedPartitionResumesAfterRebalance: member A pauses its partitions
// for backpressure behind a slow destination; member B joins and takes some
// of them, then leaves, and they come back to A. franz-go keeps pauses
// across rebalances: the returning partitions must be fetched again, every
// event delivered, and A's paused gauge must come back to 0.
func TestPausedPartitionResumesAfterRebalance(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 200, MaxBytes: 128 << 10, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(30_000, 11)
	wa, wb := slowWriter(15*time.Millisecond), slowWriter(15*time.Millisecond)
	ra, stopA := e.run(wa, Options{QueueBytes: 64 << 10})
	defer stopA()
	waitUntil(t, "A pauses a partition", 10*time.Second, func() bool { return testutil.ToFloat64(ra.m.paused) >= 2 })
	_, stopB := e.run(wb, Options{QueueBytes: 64 << 10, Registerer: prometheus.NewRegistry()})
	waitUntil(t, "B delivers", 15*time.Second, func() bool { return wb.count() > 0 })
	stopB()
	waitUntil(t, "every event delivered", 60*time.Second, func() bool { return len(union(wa, wb)) == len(ids) })
	waitUntil(t, "A's paused gauge back to 0", 5*time.Second, func() bool { return testutil.ToFloat64(ra.m.paused) == 0 })
	if ok, why := ra.Ready(); !ok {
		t.Errorf("Ready after recovery: got false (%s), want true", why)
	}
}

// TestDrainWaitsForRebalance: a member that drains at shutdown behind a
// slow destination is joined by another; the rebalance must wait for the
// drain's writes, so that no partition is written by both at once and no
// committed offset moves backwards.
func TestDrainWaitsForRebalance(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(5 * time.Second)})
	ids := e.produce(9000, 12)
	type span struct {
		member      string
		first, last int64
		from, to    time.Time
	}
	var mu sync.Mutex
	spans := map[int32][]span{}
	logged := func(member string, d time.Duration) *fakeWriter {
		w := newFakeWriter()
		w.fail = func(b *batch.Batch, _ int) (Result, error) {
			from := time.Now()
			time.Sleep(d)
			mu.Lock()
			spans[b.Partition] = append(spans[b.Partition], span{member, b.First(), b.Last(), from, time.Now()})
			mu.Unlock()
			return Result{Through: b.Last()}, nil
		}
		return w
	}
	wa, wb := logged("A", 150*time.Millisecond), logged("B", time.Millisecond)
	ra, stopA := e.run(wa, Options{QueueBytes: 4 << 20})
	waitUntil(t, "A holds records", 10*time.Second, func() bool { return testutil.ToFloat64(ra.m.records) >= 3000 })
	// Watch the committed offsets: they may only grow.
	var backwards atomic.Value
	watch, cancelWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		last := map[int32]int64{}
		for watch.Err() == nil {
			for p, o := range e.committed() {
				if o < last[p] {
					backwards.Store(fmt.Sprintf("partition %d: committed %d after %d", p, o, last[p]))
				}
				last[p] = max(last[p], o)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	stopped := make(chan struct{})
	go func() { stopA(); close(stopped) }() // A drains: slowly
	time.Sleep(300 * time.Millisecond)
	_, stopB := e.run(wb, Options{Registerer: prometheus.NewRegistry()})
	<-stopped
	waitUntil(t, "every event delivered", 60*time.Second, func() bool { return len(union(wa, wb)) == len(ids) })
	waitUntil(t, "everything committed", 10*time.Second, func() bool {
		c := e.committed()
		for p, end := range e.ends(topic) {
			if c[p] != end {
				return false
			}
		}
		return true
	})
	stopB()
	cancelWatch()
	<-watched
	if v := backwards.Load(); v != nil {
		t.Errorf("a committed offset moved backwards: %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	for p, ss := range spans {
		var firstB time.Time
		for _, s := range ss {
			if s.member == "B" && (firstB.IsZero() || s.from.Before(firstB)) {
				firstB = s.from
			}
		}
		for _, s := range ss {
			if s.member == "A" && !firstB.IsZero() && s.to.After(firstB) {
				t.Errorf("partition %d: A wrote %d-%d until %v, after B began writing it at %v",
					p, s.first, s.last, s.to.Format("15:04:05.000"), firstB.Format("15:04:05.000"))
			}
		}
	}
}

// extendingWriter is a fakeWriter whose destination may hold an earlier
// writer's delivery that a batch must grow to (as S3's adoption does).
type extendingWriter struct{ *fakeWriter }

func (extendingWriter) ExtendTo(err error) (int64, bool) {
	var more *NeedMoreError
	if errors.As(err, &more) {
		return more.Through, true
	}
	return 0, false
}

// TestHoldStaysWithinBudget: every partition's first batch must grow to an
// earlier delivery longer than the partition's share of the buffer. What
// the sink holds stays within the budget plus one such delivery, and
// everything is delivered once.
func TestHoldStaysWithinBudget(t *testing.T) {
	const budget = 256 << 10
	e := newEnv(t, config.Batch{MaxEvents: 200, MaxBytes: 64 << 10, MaxAge: config.Duration(50 * time.Millisecond), BufferBytes: budget})
	ids := e.produce(15_000, 13)
	w := extendingWriter{newFakeWriter()}
	var mu sync.Mutex
	asked := map[int32]int64{}
	var peak, longest int64
	var r atomic.Pointer[Runner]
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if rr := r.Load(); rr != nil {
			peak = max(peak, rr.deps.budget.used.Load())
		}
		if _, ok := asked[b.Partition]; !ok {
			asked[b.Partition] = b.First() + 700 // about 280 KB of records
			return Result{}, &NeedMoreError{Through: asked[b.Partition]}
		}
		if b.First() == asked[b.Partition]-700 {
			longest = max(longest, int64(b.Bytes))
		}
		time.Sleep(2 * time.Millisecond)
		return Result{Through: b.Last()}, nil
	}
	runner, stop := e.run(w, Options{QueueBytes: 1 << 20})
	r.Store(runner)
	waitUntil(t, "everything delivered", 30*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w.fakeWriter, ids)
	mu.Lock()
	defer mu.Unlock()
	const slack = 3 * 1024
	if longest == 0 {
		t.Fatal("no batch grew to its hold")
	}
	if bound := budget + longest + slack; peak > bound {
		t.Errorf("the sink held up to %d bytes while batches grew; want at most the %d budget plus one delivery (%d) plus %d",
			peak, budget, longest, slack)
	}
	t.Logf("peak %d bytes; budget %d; longest adopted delivery %d bytes", peak, budget, longest)
}

// TestHoldPastADeadLetteredRecord: the earlier writer's delivery ends at a
// record this build dead-letters (a rolling upgrade that added a check).
// The batch can never hold that record. The runtime must not wait for it
// forever while it reports ready, nor ask the writer again and again
// without a pause: once the partition is read past the offset, the batch
// can grow no further, the partition is not ready, with a reason that names
// the dead-lettered offset, and nothing is committed past the delivery's
// start.
func TestHoldPastADeadLetteredRecord(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 20, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	var recs []*kgo.Record
	g := loadgen.New(loadgen.Config{Seed: 14})
	for range 30 {
		r, err := record.Marshal(g.Next(), record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		r.Topic, r.Partition = topic, 0
		recs = append(recs, r)
	}
	recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte{0xff, 0xff, 0xff}})
	p := kgo.ManualPartitioner()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(p))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const bad = 30 // the undecodable record's offset
	w := extendingWriter{newFakeWriter()}
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		if b.First() == 0 && b.Last() < bad {
			// What S3's adoption says of a batch short of the delivery's last record.
			return Result{}, &NeedMoreError{Through: bad}
		}
		return Result{Through: b.Last()}, nil
	}
	r, stop := e.run(w, Options{DrainTimeout: time.Second})
	defer stop()
	waitUntil(t, "the sink to say it cannot adopt", 10*time.Second, func() bool {
		ok, why := r.Ready()
		return !ok && strings.Contains(why, "the batch holds every record through it")
	})
	if _, why := r.Ready(); !strings.Contains(why, "this build dead-lettered offsets [30]") {
		t.Errorf("Ready's reason %q does not name the offset this build dead-lettered", why)
	}
	if c := e.committed()[0]; c > 0 {
		t.Errorf("partition 0: committed %d, past the start of the delivery it cannot adopt", c)
	}
	time.Sleep(time.Second)
	w.mu.Lock()
	attempts := w.attempts[0]
	w.mu.Unlock()
	if attempts > 30 { // with backoff (at most 200 ms here), about 10 a second
		t.Errorf("the writer was asked %d times in about a second: the stuck adoption is retried without backoff", attempts)
	}
}

// TestLagIsZeroAtRestOnATransactionalTopic: the router writes
// transactionally, so each partition's log ends with a commit marker. Once
// the sink has delivered everything, its lag reads 0, not 1.
func TestLagIsZeroAtRestOnATransactionalTopic(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	txn, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.TransactionalID("router-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	g := loadgen.New(loadgen.Config{Seed: 15})
	ids := map[string]bool{}
	ctx := context.Background()
	for range 3 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			ev := g.Next()
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			r.Topic = topic
			ids[ev.GetId()] = true
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
	w := newFakeWriter()
	_, stop := e.run(w, Options{})
	defer stop()
	waitUntil(t, "every event delivered", 20*time.Second, func() bool { return w.count() == len(ids) })
	waitUntil(t, "lag 0 on every partition", 5*time.Second, func() bool {
		for p := range 3 {
			v, ok := gauge(t, e.reg, "auditstream_sink_lag", map[string]string{"partition": fmt.Sprint(p)})
			if ok && v != 0 {
				return false
			}
		}
		return true
	})
}

// TestFilterMismatchIsDeadLettered: records produced straight to the
// connector topic, bypassing the router, whose events the connector's
// filter rejects, are dead-lettered as filter_mismatch and counted; the
// others are delivered.
func TestFilterMismatchIsDeadLettered(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	e.p.Connectors[0].Filter = config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}
	g := loadgen.New(loadgen.Config{Seed: 16})
	want := map[string]bool{}
	var recs []*kgo.Record
	for i := range 100 {
		ev := g.Next()
		ev.Tenants = []string{"acme"}
		switch i % 4 {
		case 1:
			ev.Tenants = []string{"globex"}
		case 2:
			ev.Tenants = []string{"acme", "globex"} // passes: acme is included, nothing excluded
		case 3:
			ev.Tenants = nil // tenantless: rejected by a connector filtered to some tenants
		}
		if i%4 == 0 || i%4 == 2 {
			want[ev.GetId()] = true
		}
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		// Headers that lie: the router would have been fooled by them.
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: record.HeaderTenant, Value: []byte("acme")})
		r.Topic = topic
		recs = append(recs, r)
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := newFakeWriter()
	_, stop := e.run(w, Options{})
	waitUntil(t, "delivery", 20*time.Second, func() bool { return w.count() == len(want) })
	stop()
	checkExactlyOnce(t, w, want)
	dl := readAll(t, e.cl, "audit.dlq", 50)
	for _, r := range dl {
		if got := record.HeaderValue(r.Headers, record.HeaderDLQReason); got != record.ReasonFilterMismatch {
			t.Errorf("dlq-reason: got %q, want %s", got, record.ReasonFilterMismatch)
		}
	}
	if len(dl) != 50 {
		t.Errorf("DLQ: got %d records, want 50", len(dl))
	}
	if v, _ := gauge(t, e.reg, "auditstream_sink_filter_mismatch_total", map[string]string{"connector": "c1"}); v != 50 {
		t.Errorf("auditstream_sink_filter_mismatch_total: got %v, want 50", v)
	}
}

// TestNotReadyWhileAPartitionIsStuck: Ready is false while any partition
// cannot make progress, whatever step is failing, and true again once it
// recovers.
func TestNotReadyWhileAPartitionIsStuck(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env) (recover func())
	}{{
		name: "dead letter cannot be produced",
		setup: func(e *env) func() {
			e.p.Topics.DLQ.Name = "audit.dlq.missing"
			bad := &kgo.Record{Topic: topic, Partition: 0, Value: []byte{0xff, 0xff, 0xff}}
			if err := e.cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
				e.t.Fatal(err)
			}
			return func() {
				if _, err := e.cl.Request(context.Background(), &kmsg.CreateTopicsRequest{Topics: []kmsg.CreateTopicsRequestTopic{{
					Topic: "audit.dlq.missing", NumPartitions: 1, ReplicationFactor: 1,
				}}}); err != nil {
					e.t.Fatal(err)
				}
			}
		},
	}, {
		name: "committed offset cannot be fetched",
		setup: func(e *env) func() {
			// The group consumer's own fetch of its starting offsets goes
			// through; the worker's, which learns where its batches begin,
			// fails.
			var failing atomic.Bool
			failing.Store(true)
			var n atomic.Int32
			e.cluster.ControlKey(kmsg.OffsetFetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
				e.cluster.KeepControl()
				if n.Add(1) == 1 || !failing.Load() {
					return nil, nil, false
				}
				r := req.(*kmsg.OffsetFetchRequest)
				resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
				resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				for _, g := range r.Groups {
					resp.Groups = append(resp.Groups, kmsg.OffsetFetchResponseGroup{Group: g.Group, ErrorCode: kerr.GroupAuthorizationFailed.Code})
				}
				return resp, nil, true
			})
			e.produce(50, 17)
			return func() { failing.Store(false) }
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
			e.t = t
			recover := tt.setup(e)
			r, stop := e.run(newFakeWriter(), Options{DrainTimeout: time.Second})
			defer stop()
			waitUntil(t, "not ready", 10*time.Second, func() bool { ok, _ := r.Ready(); return !ok && r.joined.Load() })
			time.Sleep(300 * time.Millisecond)
			if ok, _ := r.Ready(); ok {
				t.Fatal("Ready: got true while the partition is stuck, want false")
			}
			recover()
			waitUntil(t, "ready again", 15*time.Second, func() bool { ok, _ := r.Ready(); return ok })
		})
	}
}

// TestPlainWriterIsNeverHeld: a Writer without the Extender capability (the
// Datadog writer) never has a batch held back to grow: an error it returns
// is retried as it is, whatever its type.
func TestPlainWriterIsNeverHeld(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 10, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(100, 18)
	w := newFakeWriter()
	var grew atomic.Bool
	w.fail = func(b *batch.Batch, attempt int) (Result, error) {
		if b.Len() > 10 {
			grew.Store(true)
		}
		if b.Partition == 0 && attempt == 1 {
			return Result{}, &NeedMoreError{Through: b.Last() + 20}
		}
		return Result{Through: b.Last()}, nil
	}
	r, stop := e.run(w, Options{})
	waitUntil(t, "delivery", 20*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w, ids)
	if grew.Load() {
		t.Error("a batch grew past max_events for a writer that cannot ask for it")
	}
	if got := testutil.ToFloat64(r.m.retries.WithLabelValues("need_more")); got != 0 {
		t.Errorf("need_more retries: got %v, want 0", got)
	}
}

// TestHoldToRecordsReadAlready: each partition's first batch must grow to
// an earlier delivery that ends a few records past it, records the worker
// has read already: it holds two batches' worth, and the batch was cut at
// max_events (a replay with other batch settings than the deliveries it
// finds). Those records wait in the batcher, so the batch can grow to
// them; it must not be taken for one that holds every record it can, which
// retried the short batch forever and committed nothing.
func TestHoldToRecordsReadAlready(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 10, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(300, 19)
	w := extendingWriter{newFakeWriter()}
	var mu sync.Mutex
	asked, got := map[int32]int64{}, map[int32]int64{}
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if b.Start != 0 {
			return Result{Through: b.Last()}, nil
		}
		if _, ok := asked[b.Partition]; !ok {
			asked[b.Partition] = b.Last() + 5 // read already: the worker holds 20
		}
		if b.Last() < asked[b.Partition] {
			return Result{}, &NeedMoreError{Through: asked[b.Partition]}
		}
		got[b.Partition] = b.Last()
		return Result{Through: b.Last()}, nil
	}
	r, stop := e.run(w, Options{DrainTimeout: time.Second})
	var stopOnce sync.Once
	defer stopOnce.Do(stop)
	waitUntil(t, "everything delivered", 20*time.Second, func() bool {
		if ok, why := r.Ready(); !ok && strings.Contains(why, "adopting") {
			t.Fatalf("not ready: %s", why)
		}
		return w.count() == len(ids)
	})
	stopOnce.Do(stop)
	mu.Lock()
	defer mu.Unlock()
	for p, a := range asked {
		if got[p] < a {
			t.Errorf("partition %d: after NeedMore(%d) the first batch ended at %d", p, a, got[p])
		}
	}
	if len(asked) != 3 {
		t.Errorf("%d partitions were asked to grow, want 3", len(asked))
	}
	checkExactlyOnce(t, w.fakeWriter, ids)
}
