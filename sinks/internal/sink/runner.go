package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/kafkalog"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/redact"
)

// Options configure a Runner.
type Options struct {
	Pipeline  *config.Pipeline
	Connector *config.Connector
	Writer    Writer
	// Log is the caller's logger, which names the connector.
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// KafkaOpts are appended to the client options (tests use them).
	KafkaOpts []kgo.Opt
	// MaxBackoff caps the wait between retries of a failing write
	// (default 10 s). An unauthorized destination is retried at this pace.
	MaxBackoff time.Duration
	// QueueBytes is how much (record values) a partition queues beyond
	// what its batcher holds before its fetching pauses (default 1 MiB).
	QueueBytes int
	// DrainTimeout bounds the final flush at shutdown (default 30 s).
	DrainTimeout time.Duration
	// RevokeGrace is how long a revoked partition's in-flight write may
	// finish before it is abandoned (default 5 s).
	RevokeGrace time.Duration
	// Now is the clock for batch ages (default time.Now).
	Now func() time.Time
}

// Runner consumes one connector's topic and delivers it through a Writer.
//
// Its guarantees:
//   - A partition's offset is committed only after the Writer has made every
//     record up to it durable (or sent it to the dead-letter topic), and
//     only ever the contiguous watermark: batches of a partition are written
//     one after another, and a failed batch is retried until it succeeds,
//     so no later success can commit past it.
//   - A failing destination is retried forever with backoff and jitter;
//     meanwhile the partition's fetching pauses once its buffer is full, so
//     memory stays bounded however long the outage.
//   - Every partition flushes when its batch reaches its max age, also when
//     no more records arrive (each partition has its own timer).
//   - Revoked partitions finish or abandon their in-flight write and keep
//     what was committed; lost partitions commit nothing more. Shutdown
//     flushes, commits and leaves the group.
type Runner struct {
	o      Options
	log    *slog.Logger
	m      *metrics
	cl     *kgo.Client
	adm    *kadm.Client
	topic  string
	group  string
	dlq    string
	stage  string
	policy batch.Policy
	redact *redact.Rules
	budget budget
	// rereadOpts make the client that reads rejected records again.
	rereadOpts []kgo.Opt

	mu      sync.Mutex
	workers map[int32]*worker
	joined  atomic.Bool
}

// New creates a Runner. It does not contact Kafka until Run.
func New(o Options) (*Runner, error) {
	p, c := o.Pipeline, o.Connector
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = 1 << 20
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.RevokeGrace == 0 {
		o.RevokeGrace = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rules, err := redact.New(c.Redact)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		o: o, log: o.Log, m: newMetrics(o.Registerer, c.ID),
		topic: p.ConnectorTopic(c.ID), group: p.ConnectorGroup(c.ID), dlq: p.Topics.DLQ.Name,
		stage:   "sink:" + c.ID,
		policy:  batch.Policy{MaxEvents: c.Batch.MaxEvents, MaxBytes: int(c.Batch.MaxBytes), MaxAge: c.Batch.MaxAge.D()},
		redact:  rules,
		budget:  budget{limit: int64(cmp.Or(c.Batch.BufferBytes, config.DefaultBufferBytes))},
		workers: map[int32]*worker{},
	}
	base, err := p.Kafka.ClientOpts()
	if err != nil {
		return nil, err
	}
	opts := append(base,
		kgo.ConsumerGroup(r.group),
		kgo.ConsumeTopics(r.topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Partitions change hands only between polls, never while a poll's
		// records are being handed to the workers.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.SessionTimeout(10*time.Second),
		// A resumed partition is fetched only once the fetch in flight
		// returns; a short long-poll keeps recovery after backpressure fast.
		kgo.FetchMaxWait(250*time.Millisecond),
		// Bounded buffering, as in the router. Fetch sizes count compressed
		// bytes, and audit events compress about 6x: sized from max_bytes
		// (16 MiB per partition), one fetch carried 500k events and the
		// sink peaked above 1 GiB draining a backlog. A worker keeps at
		// most two batches (batch.Batcher) plus QueueBytes; the fetches
		// only need to keep that full.
		kgo.FetchMaxBytes(1<<20),
		kgo.FetchMaxPartitionBytes(256<<10),
		// A dead letter is a record this sink read, plus headers. Under
		// franz-go's default cap (1,000,012 bytes), an event near the
		// router's 1 MiB cap could never be dead-lettered and would stall
		// its partition. The dead-letter topic takes this much
		// (config.Pipeline.RecordBytes).
		kgo.ProducerBatchMaxBytes(o.Pipeline.RecordBytes()),
		kgo.WithLogger(kafkalog.New(o.Log)),
	)
	opts = append(opts, o.KafkaOpts...)
	r.rereadOpts = append(append(slices.Clip(base), o.KafkaOpts...), kgo.WithLogger(kafkalog.New(o.Log)))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	r.cl, r.adm = cl, kadm.NewClient(cl)
	return r, nil
}

// Ready reports whether the sink has joined its group and no partition is
// failing to deliver.
func (r *Runner) Ready() (bool, string) {
	if !r.joined.Load() {
		return false, "not yet assigned partitions of " + r.topic
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, w := range r.workers {
		if err := w.failing.Load(); err != nil {
			return false, fmt.Sprintf("partition %d: %v", p, *err)
		}
	}
	return true, ""
}

// Run consumes until ctx ends, then drains: every partition flushes what
// it holds and commits, and the sink leaves its group.
func (r *Runner) Run(ctx context.Context) error {
	defer r.cl.Close() // leaves the group, after the drain below
	for {
		fs := r.cl.PollRecords(ctx, 10_000)
		if fs.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
			}
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			r.m.records.Add(float64(len(p.Records)))
			last := p.Records[len(p.Records)-1].Offset
			r.m.lag.WithLabelValues(strconv.Itoa(int(p.Partition))).Set(float64(max(p.HighWatermark-last-1, 0)))
			r.mu.Lock()
			w := r.workers[p.Partition]
			r.mu.Unlock()
			if w != nil { // nil: revoked since the fetch; the new owner reads them
				w.push(p.Records)
			}
		})
		r.cl.AllowRebalance()
	}
	// The loop may have left a poll unacknowledged; leaving the group
	// (Close) waits for rebalances to be allowed.
	r.cl.AllowRebalance()
	r.log.Info("draining before shutdown")
	r.stopWorkers(r.takeAll(), stopDrain)
	return nil
}

// assigned starts a worker for each new partition.
func (r *Runner) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range m[r.topic] {
		if _, ok := r.workers[p]; ok {
			continue
		}
		w := newWorker(r, p)
		r.workers[p] = w
		go w.run()
	}
	r.joined.Store(true)
	r.log.Info("partitions assigned", "partitions", m[r.topic])
}

// revoked stops the revoked partitions' workers: each finishes its
// in-flight write (or abandons it after the grace period) and has already
// committed what it wrote. The rebalance waits for this.
func (r *Runner) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.log.Info("partitions revoked", "partitions", m[r.topic])
	r.stopWorkers(r.take(m[r.topic]), stopRevoke)
}

// lost stops the lost partitions' workers without committing: another
// member may own them already.
func (r *Runner) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.log.Warn("partitions lost", "partitions", m[r.topic])
	r.stopWorkers(r.take(m[r.topic]), stopLost)
}

func (r *Runner) take(ps []int32) []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []*worker
	for _, p := range ps {
		if w, ok := r.workers[p]; ok {
			ws = append(ws, w)
			delete(r.workers, p)
		}
	}
	return ws
}

func (r *Runner) takeAll() []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []*worker
	for p, w := range r.workers {
		ws = append(ws, w)
		delete(r.workers, p)
	}
	return ws
}

// stopWorkers stops workers in parallel and waits for them all.
func (r *Runner) stopWorkers(ws []*worker, how stopMode) {
	for _, w := range ws {
		w.stop(how)
	}
	for _, w := range ws {
		<-w.done
	}
}

// wakeAll wakes every worker, for those waiting for room in the budget.
func (r *Runner) wakeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		w.notify()
	}
}

// budget bounds what all of a runner's workers hold decoded, in record
// bytes. A worker takes room as it batches records and gives it back once
// their batch is delivered. Workers taking at the same moment may overshoot
// the limit by a record each.
type budget struct {
	limit int64
	used  atomic.Int64
}

func (b *budget) spent() bool       { return b.used.Load() >= b.limit }
func (b *budget) take(bytes int)    { b.used.Add(int64(bytes)) }
func (b *budget) release(bytes int) { b.used.Add(-int64(bytes)) }
