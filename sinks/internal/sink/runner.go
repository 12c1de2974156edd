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
	"github.com/auditstream/auditstream/config/filter"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
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

	// unmarshal decodes a value that passed the intake's check, by its
	// content type (default record.Unmarshal); tests make it fail.
	unmarshal func(value []byte, contentType string) (*auditv1.Event, error)
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
//     memory stays bounded however long the outage. A paused partition
//     that leaves and comes back is fetched again.
//   - Every partition flushes when its batch reaches its max age, also when
//     no more records arrive (each partition has its own timer).
//   - Revoked partitions finish or abandon their in-flight write and keep
//     what was committed; lost partitions commit nothing more. Shutdown
//     flushes, commits and leaves the group; a rebalance during that drain
//     waits for the drain's writes like any revoke.
//   - The sink is ready only while every partition makes progress.
type Runner struct {
	log   *slog.Logger
	m     *metrics
	cl    *kgo.Client
	topic string
	// deps are what each worker is given.
	deps       workerDeps
	queueBytes int

	// built is closed once New has filled in the runner: the client
	// joins the group as soon as it exists, and may assign partitions
	// before New returns.
	built chan struct{}

	mu      sync.Mutex
	parts   map[int32]*partition
	closing bool // no new workers: the sink is shutting down
	joined  atomic.Bool
}

// partition is one assigned partition: its intake, which the poll loop
// fills, and the worker that delivers it.
type partition struct {
	in *intake
	w  *worker
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
	if o.unmarshal == nil {
		o.unmarshal = record.Unmarshal
	}
	rules, err := redact.New(c.Redact)
	if err != nil {
		return nil, err
	}
	match, err := filter.New(c.Filter)
	if err != nil {
		return nil, fmt.Errorf("connector %s: filter: %w", c.ID, err)
	}
	topic, group := p.ConnectorTopic(c.ID), p.ConnectorGroup(c.ID)
	base, err := p.Kafka.ClientOpts()
	if err != nil {
		return nil, err
	}
	r := &Runner{log: o.Log, m: newMetrics(o.Registerer, c.ID), topic: topic, queueBytes: o.QueueBytes,
		parts: map[int32]*partition{}, built: make(chan struct{})}
	opts := append(base,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers come through as control records: they take
		// offsets, and a partition whose log ends with one is caught up
		// only once the sink has read past it (the lag gauge).
		kgo.KeepControlRecords(),
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
		kgo.ProducerBatchMaxBytes(p.RecordBytes()),
		kgo.WithLogger(kafkalog.New(o.Log)),
	)
	opts = append(opts, o.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	r.cl = cl
	ext, _ := o.Writer.(Extender)
	r.deps = workerDeps{
		topic: topic,
		out:   o.Writer,
		ext:   ext,
		kafka: &kafkaLog{
			cl: cl, adm: kadm.NewClient(cl), topic: topic, group: group, dlq: p.Topics.DLQ.Name, stage: "sink:" + c.ID,
			recordBytes: int(p.RecordBytes()),
			rereadOpts:  append(append(slices.Clip(base), o.KafkaOpts...), kgo.WithLogger(kafkalog.New(o.Log))),
		},
		decode:       decoder{filter: match, redact: rules, unmarshal: o.unmarshal},
		budget:       newBudget(int64(cmp.Or(c.Batch.BufferBytes, config.DefaultBufferBytes))),
		policy:       batch.Policy{MaxEvents: c.Batch.MaxEvents, MaxBytes: int(c.Batch.MaxBytes), MaxAge: c.Batch.MaxAge.D()},
		m:            r.m,
		log:          o.Log,
		now:          o.Now,
		maxBackoff:   o.MaxBackoff,
		revokeGrace:  o.RevokeGrace,
		drainTimeout: o.DrainTimeout,
	}
	close(r.built)
	return r, nil
}

// Ready reports whether the sink has joined its group and every partition
// makes progress: no write, dead letter, commit or offset fetch is failing,
// and no batch waits for records its partition does not have.
func (r *Runner) Ready() (bool, string) {
	if !r.joined.Load() {
		return false, "not yet assigned partitions of " + r.topic
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, pt := range r.parts {
		if err := pt.w.health.get(); err != nil {
			return false, fmt.Sprintf("partition %d: %v", p, err)
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
		fs.EachPartition(r.push)
		r.cl.AllowRebalance()
	}
	// The loop may have left a poll unacknowledged: the drain lets
	// rebalances happen, and leaving the group (Close) waits for that.
	r.cl.AllowRebalance()
	r.log.Info("draining before shutdown")
	r.drain()
	return nil
}

// push hands a fetched partition's records to its intake.
func (r *Runner) push(p kgo.FetchTopicPartition) {
	events := 0
	for _, rec := range p.Records {
		if !rec.Attrs.IsControl() {
			events++
		}
	}
	r.m.records.Add(float64(events))
	// With read_committed, the readable log ends at the last stable
	// offset, which is the high watermark unless a transaction is open.
	end := p.LastStableOffset
	if end < 0 {
		end = p.HighWatermark
	}
	r.mu.Lock()
	pt := r.parts[p.Partition]
	r.mu.Unlock()
	if pt != nil { // nil: revoked since the fetch; the new owner reads them
		pt.in.push(p.Records, end)
	}
}

// assigned starts a worker for each new partition.
func (r *Runner) assigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	<-r.built
	ps := m[r.topic]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return
	}
	var added []int32
	for _, p := range ps {
		if _, ok := r.parts[p]; !ok {
			added = append(added, p)
		}
	}
	// A partition revoked while paused was resumed when it left
	// (intake.close); resuming here too costs nothing and makes sure a
	// returning partition is fetched, whatever path it took.
	cl.ResumeFetchPartitions(map[string][]int32{r.topic: added})
	for _, p := range added {
		in := newIntake(cl, r.topic, p, r.queueBytes, r.m.paused)
		ctx, cancel := context.WithCancel(context.Background())
		w := newWorker(r.deps, p, in, cancel)
		r.parts[p] = &partition{in: in, w: w}
		go w.run(ctx)
	}
	r.joined.Store(true)
	r.log.Info("partitions assigned", "partitions", ps)
}

// revoked stops the revoked partitions' workers: each finishes its
// in-flight write (or abandons it after the grace period) and has already
// committed what it wrote. The rebalance waits for this.
func (r *Runner) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.log.Info("partitions revoked", "partitions", m[r.topic])
	r.stop(r.take(m[r.topic]), stopRevoke)
}

// lost stops the lost partitions' workers without committing: another
// member may own them already.
func (r *Runner) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.log.Warn("partitions lost", "partitions", m[r.topic])
	r.stop(r.take(m[r.topic]), stopLost)
}

// drain flushes every partition at shutdown. The workers stay assigned
// while they drain: a rebalance meanwhile revokes them as usual and waits
// for their in-flight write and commit, so that a new owner never starts
// before a late commit of this one (which would move the group's offset
// backwards under it).
func (r *Runner) drain() {
	r.mu.Lock()
	r.closing = true
	var ps []*partition
	for _, pt := range r.parts {
		ps = append(ps, pt)
		pt.w.stop(stopDrain)
	}
	r.mu.Unlock()
	for _, pt := range ps {
		<-pt.w.done
	}
	var all []int32
	r.mu.Lock()
	for p := range r.parts {
		all = append(all, p)
	}
	r.mu.Unlock()
	r.stop(r.take(all), stopDrain)
}

// take removes partitions from the runner, so that polls no longer feed
// them.
func (r *Runner) take(ps []int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for _, p := range ps {
		if pt, ok := r.parts[p]; ok {
			out = append(out, pt)
			delete(r.parts, p)
		}
	}
	return out
}

// stop stops partitions' workers in parallel, waits for them all, and
// closes their intakes (which resumes a paused partition: franz-go would
// otherwise keep it paused if it came back).
func (r *Runner) stop(ps []*partition, how stopMode) {
	for _, pt := range ps {
		pt.w.stop(how)
	}
	for _, pt := range ps {
		<-pt.w.done
		pt.in.close()
		r.m.lag.DeleteLabelValues(strconv.Itoa(int(pt.w.partition)))
	}
}
