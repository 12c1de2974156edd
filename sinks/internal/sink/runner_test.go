package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

const topic = "audit.connector.c1"

// fakeWriter records what it is given and can be told to fail.
type fakeWriter struct {
	mu        sync.Mutex
	delivered map[string]int // event id -> times delivered
	writes    []*batch.Batch
	fail      func(b *batch.Batch, attempt int) (Result, error) // nil: succeed
	attempts  map[int64]int                                     // by batch first offset
}

func newFakeWriter() *fakeWriter {
	return &fakeWriter{delivered: map[string]int{}, attempts: map[int64]int{}}
}

func (f *fakeWriter) Write(_ context.Context, b *batch.Batch) (Result, error) {
	f.mu.Lock()
	f.attempts[b.First()]++
	attempt := f.attempts[b.First()]
	fail := f.fail
	f.mu.Unlock()
	res := Result{Through: b.Last()}
	if fail != nil {
		r, err := fail(b, attempt)
		if err != nil {
			return Result{}, err
		}
		res = r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rejected := map[int64]bool{}
	for _, r := range res.Rejected {
		rejected[r.Offset] = true
	}
	for _, it := range b.Items {
		if !rejected[it.Offset] {
			f.delivered[it.Event.GetId()]++
		}
	}
	f.writes = append(f.writes, b)
	return res, nil
}

func (f *fakeWriter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.delivered)
}

// env is a kfake cluster with a connector topic and a DLQ, and a pipeline
// pointing at it.
type env struct {
	t       *testing.T
	brokers []string
	p       *config.Pipeline
	cl      *kgo.Client
	reg     *prometheus.Registry
	cluster *kfake.Cluster
}

func newEnv(t *testing.T, policy config.Batch) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic, "audit.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	p := &config.Pipeline{
		Kafka:  config.Kafka{Brokers: brokers, ClientID: "test"},
		Topics: config.Topics{DLQ: config.Topic{Name: "audit.dlq"}, ConnectorPrefix: "audit.connector."},
		Connectors: []config.Connector{{ID: "c1", Type: config.TypeS3, Batch: policy,
			Redact: config.Redaction{Mask: []string{"remoteAddress"}}}},
	}
	// Small record batches, as a steady stream produces them: a fetch
	// returns whole record batches, so their size is the granularity of
	// backpressure.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, brokers: brokers, p: p, cl: cl, reg: prometheus.NewRegistry(), cluster: c}
}

// produce publishes n generated events and returns their ids.
func (e *env) produce(n int, seed uint64) map[string]bool {
	e.t.Helper()
	g := loadgen.New(loadgen.Config{Seed: seed})
	ids := map[string]bool{}
	var recs []*kgo.Record
	for range n {
		ev := g.Next()
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			e.t.Fatal(err)
		}
		r.Topic = topic
		recs = append(recs, r)
		ids[ev.GetId()] = true
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// run starts a Runner and returns a function that stops it and waits.
func (e *env) run(w Writer, o Options) (*Runner, func()) {
	e.t.Helper()
	o.Pipeline, o.Connector, o.Writer = e.p, &e.p.Connectors[0], w
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Registerer == nil {
		o.Registerer = e.reg
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 200 * time.Millisecond
	}
	r, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return r, func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}
}

// committed returns the group's committed offsets by partition.
func (e *env) committed() map[int32]int64 {
	e.t.Helper()
	resp, err := kadm.NewClient(e.cl).FetchOffsets(context.Background(), e.p.ConnectorGroup("c1"))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// ends returns the topic's end offsets by partition.
func (e *env) ends(t string) map[int32]int64 {
	e.t.Helper()
	resp, err := kadm.NewClient(e.cl).ListEndOffsets(context.Background(), t)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkExactlyOnce(t *testing.T, w *fakeWriter, ids map[string]bool) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range ids {
		if n := w.delivered[id]; n != 1 {
			t.Fatalf("event %s delivered %d times, want 1", id, n)
		}
	}
	if len(w.delivered) != len(ids) {
		t.Fatalf("delivered %d distinct events, want %d", len(w.delivered), len(ids))
	}
}

func TestDeliversEverythingAndCommitsTheEnd(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(100 * time.Millisecond)})
	ids := e.produce(3000, 1)
	w := newFakeWriter()
	_, stop := e.run(w, Options{})
	waitUntil(t, "all events delivered", 20*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w, ids)
	ends, got := e.ends(topic), e.committed()
	for p, end := range ends {
		if got[p] != end {
			t.Errorf("partition %d: committed %d, want the end offset %d", p, got[p], end)
		}
	}
	for _, b := range w.writes {
		if b.Len() > 100 {
			t.Fatalf("a batch of %d events, over max_events 100", b.Len())
		}
		for _, it := range b.Items {
			if it.Event.GetRemoteAddress() != "***" {
				t.Fatalf("remoteAddress %q reached the writer unredacted", it.Event.GetRemoteAddress())
			}
		}
	}
}

// TestFailedWritesAreNotCommitted: while a partition's batch fails, its
// committed offset never passes the batch's start; the batch is retried
// and delivered once.
func TestFailedWritesAreNotCommitted(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 50, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(600, 2)
	w := newFakeWriter()
	var violations []string
	var mu sync.Mutex
	w.fail = func(b *batch.Batch, attempt int) (Result, error) {
		if b.Partition != 0 || attempt > 3 {
			return Result{Through: b.Last()}, nil
		}
		if c := e.committed()[0]; c > b.Start {
			mu.Lock()
			violations = append(violations, fmt.Sprintf("committed %d while batch from %d is failing", c, b.Start))
			mu.Unlock()
		}
		return Result{}, errors.New("destination down")
	}
	r, stop := e.run(w, Options{})
	waitUntil(t, "all events delivered", 30*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w, ids)
	if len(violations) > 0 {
		t.Fatalf("committed past a failing batch: %v", violations)
	}
	if got := testutil.ToFloat64(r.m.retries.WithLabelValues("error")); got < 3 {
		t.Errorf("retries counted: got %v, want at least 3", got)
	}
	if c, end := e.committed()[0], e.ends(topic)[0]; c != end {
		t.Errorf("partition 0: committed %d, want %d after recovery", c, end)
	}
}

// TestIdlePartitionFlushesByAge: a few events and then silence still
// reach the writer once the batch is max_age old.
func TestIdlePartitionFlushesByAge(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100_000, MaxBytes: 64 << 20, MaxAge: config.Duration(300 * time.Millisecond)})
	w := newFakeWriter()
	_, stop := e.run(w, Options{})
	defer stop()
	time.Sleep(500 * time.Millisecond) // let the group settle, then publish
	start := time.Now()
	ids := e.produce(5, 3)
	waitUntil(t, "the idle batch to flush", 5*time.Second, func() bool { return w.count() == len(ids) })
	if took := time.Since(start); took > 300*time.Millisecond+2*time.Second {
		t.Errorf("flushed after %v, want within max age + 2 s", took)
	}
}

// TestUndecodableAndRejectedGoToDLQ: a record that is not an event, and an
// event the writer rejects, both land in the DLQ with their reasons; the
// rest is delivered and the offsets committed through the end.
func TestUndecodableAndRejectedGoToDLQ(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 1000, MaxBytes: 1 << 20, MaxAge: config.Duration(100 * time.Millisecond)})
	ids := e.produce(100, 4)
	bad := &kgo.Record{Topic: topic, Partition: 0, Key: []byte("garbage"), Value: []byte(`{"projectId": "P1", "action": `)}
	if err := e.cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	more := e.produce(100, 5)
	for id := range more {
		ids[id] = true
	}
	w := newFakeWriter()
	var rejectedID string
	var once sync.Once
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		res := Result{Through: b.Last()}
		once.Do(func() {
			it := b.Items[0]
			rejectedID = it.Event.GetId()
			res.Rejected = []Rejected{{Offset: it.Offset, Reason: "too_large", Err: errors.New("event over 1 MB")}}
		})
		return res, nil
	}
	_, stop := e.run(w, Options{})
	waitUntil(t, "delivery", 20*time.Second, func() bool { return w.count() == len(ids)-1 })
	stop()
	if w.delivered[rejectedID] != 0 {
		t.Errorf("the rejected event was counted as delivered")
	}
	dl := readAll(t, e.cl, "audit.dlq", 2)
	reasons := map[string]bool{}
	for _, r := range dl {
		reasons[record.HeaderValue(r.Headers, record.HeaderDLQReason)] = true
		if got := record.HeaderValue(r.Headers, record.HeaderDLQStage); got != "sink:c1" {
			t.Errorf("dlq-stage: got %q, want sink:c1", got)
		}
	}
	if !reasons["malformed_json"] || !reasons["too_large"] || len(dl) != 2 {
		t.Errorf("DLQ: got %d records with reasons %v, want malformed_json and too_large", len(dl), reasons)
	}
	for p, end := range e.ends(topic) {
		if c := e.committed()[p]; c != end {
			t.Errorf("partition %d: committed %d, want %d", p, c, end)
		}
	}
}

// TestBackpressure: while the destination is down the sink stops fetching
// once its buffers are full, instead of reading the whole backlog into
// memory; when it recovers everything is delivered.
func TestBackpressure(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 200, MaxBytes: 128 << 10, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(30_000, 6) // about 12 MB, 4 MB a partition
	w := newFakeWriter()
	var down sync.Mutex
	isDown := true
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return Result{}, errors.New("destination down")
		}
		return Result{Through: b.Last()}, nil
	}
	r, stop := e.run(w, Options{QueueBytes: 128 << 10})
	waitUntil(t, "every partition paused", 10*time.Second, func() bool { return testutil.ToFloat64(r.m.paused) == 3 })
	time.Sleep(500 * time.Millisecond)
	read := testutil.ToFloat64(r.m.records)
	// Each partition holds at most its queue, two batches, and the fetches
	// the client had buffered when it paused: a bound that does not grow
	// with the backlog.
	if read > 10_000 {
		t.Errorf("read %v records while the destination was down, want a bounded share of the 30,000 backlog", read)
	}
	t.Logf("read %v of 30,000 records while the destination was down", read)
	if ok, _ := r.Ready(); ok {
		t.Error("Ready during the outage: got true, want false")
	}
	down.Lock()
	isDown = false
	down.Unlock()
	for i := 0; i < 60 && w.count() < len(ids); i++ {
		time.Sleep(500 * time.Millisecond)
		if i%4 == 0 {
			t.Logf("delivered %d, paused %v, read %v", w.count(), testutil.ToFloat64(r.m.paused), testutil.ToFloat64(r.m.records))
		}
	}
	stop()
	checkExactlyOnce(t, w, ids)
}

// TestBufferBudget: with a buffer smaller than every partition's two
// batches, partitions write short batches under pressure instead of
// waiting for their age, and what the sink holds never passes the budget
// by more than one record a partition. Everything is delivered once.
func TestBufferBudget(t *testing.T) {
	const budget = 1 << 20
	e := newEnv(t, config.Batch{MaxEvents: 5000, MaxBytes: 4 << 20, MaxAge: config.Duration(time.Second), BufferBytes: budget})
	ids := e.produce(30_000, 8) // about 12 MB
	w := newFakeWriter()
	var peak, largest int64
	var mu sync.Mutex
	var runner atomic.Pointer[Runner]
	w.fail = func(b *batch.Batch, _ int) (Result, error) {
		mu.Lock()
		if r := runner.Load(); r != nil {
			peak = max(peak, r.deps.budget.used.Load())
		}
		largest = max(largest, int64(b.Len()))
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // a destination that takes a while
		return Result{Through: b.Last()}, nil
	}
	r, stop := e.run(w, Options{})
	runner.Store(r)
	// Batches are full at 5000 events (about 2 MB), more than the whole
	// budget: only pressure, or at the end their age, flushes them.
	waitUntil(t, "everything delivered", 30*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w, ids)
	mu.Lock()
	defer mu.Unlock()
	const slack = 3 * 1024 // one record (~400 B here) per partition, rounded up
	if peak > budget+slack || peak == 0 {
		t.Errorf("the sink held up to %d bytes; want at most the %d budget plus %d", peak, budget, slack)
	}
	if largest >= 5000 {
		t.Errorf("a batch of %d events: the budget should have cut batches short", largest)
	}
	if used := r.deps.budget.used.Load(); used != 0 {
		t.Errorf("after the run %d bytes are still counted as held", used)
	}
	t.Logf("peak %d of %d budget bytes; largest batch %d events", peak, budget, largest)
}

// TestNeedMoreGrowsTheBatch: a writer that asks for a longer batch (an
// Extender) gets one that runs through the offset it named.
func TestNeedMoreGrowsTheBatch(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 10, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(300, 7)
	w := extendingWriter{newFakeWriter()}
	var asked, got int64 = -1, -1
	w.fail = func(b *batch.Batch, attempt int) (Result, error) {
		if b.Partition != 1 {
			return Result{Through: b.Last()}, nil
		}
		if asked < 0 {
			asked = b.Last() + 25
			return Result{}, &NeedMoreError{Through: asked}
		}
		if got < 0 {
			got = b.Last()
		}
		return Result{Through: b.Last()}, nil
	}
	_, stop := e.run(w, Options{})
	waitUntil(t, "delivery", 20*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w.fakeWriter, ids)
	if got < asked {
		t.Errorf("after NeedMore(%d) the batch ended at %d", asked, got)
	}
}

func readAll(t *testing.T, cl *kgo.Client, topic string, want int) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		out = append(out, c.PollFetches(ctx).Records()...)
	}
	return out
}
