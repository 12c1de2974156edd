package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// stopMode is how a worker ends.
type stopMode int32

const (
	running    stopMode = iota
	stopDrain           // shutdown: flush everything, commit, then end
	stopRevoke          // revoked: no new writes; finish or abandon the one in flight
	stopLost            // lost: end now, commit nothing
)

// worker owns one partition: it turns its records into batches, writes
// them one at a time (retrying failures), and commits after each write.
type worker struct {
	r         *Runner
	partition int32
	batcher   *batch.Batcher
	backoff   backoff

	// next is where the partition's next batch begins: the committed
	// offset at first, then one past what the last write covered. -1 until
	// the committed offset is known.
	next int64
	// hold, when not -1, is the offset a batch must reach before it is
	// written (a Writer's NeedMoreError).
	hold int64
	// held is what the worker holds: the records it is decoding, its
	// batcher and the batch in flight, in events and record bytes (its
	// share of Runner.budget).
	heldEvents, heldBytes int

	mu     sync.Mutex
	queue  []*kgo.Record
	queued int // bytes of record values in queue
	paused bool
	wake   chan struct{}

	mode    atomic.Int32 // a stopMode
	ctx     context.Context
	cancel  context.CancelFunc
	failing atomic.Pointer[error] // the last write error while retrying; nil when healthy
	done    chan struct{}
}

func newWorker(r *Runner, p int32) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		r:         r,
		partition: p,
		batcher:   batch.New(r.policy),
		backoff:   backoff{min: 100 * time.Millisecond, max: r.o.MaxBackoff},
		next:      -1,
		hold:      -1,
		wake:      make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}
}

// push hands the worker records from a poll. When its queue outgrows the
// limit, fetching of the partition pauses until the worker catches up.
func (w *worker) push(recs []*kgo.Record) {
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	for _, r := range recs {
		w.queued += len(r.Value)
	}
	if w.queued >= w.r.o.QueueBytes && !w.paused {
		w.paused = true
		w.r.cl.PauseFetchPartitions(map[string][]int32{w.r.topic: {w.partition}})
		w.r.m.paused.Inc()
	}
	w.mu.Unlock()
	w.notify()
}

func (w *worker) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop asks the worker to end. A revoke gives the in-flight write a grace
// period; a loss cancels it at once.
func (w *worker) stop(how stopMode) {
	w.mode.Store(int32(how))
	w.notify()
	switch how {
	case stopLost:
		w.cancel()
	case stopRevoke:
		time.AfterFunc(w.r.o.RevokeGrace, w.cancel)
	case stopDrain:
		time.AfterFunc(w.r.o.DrainTimeout, w.cancel)
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer w.cancel()
	defer func() { w.release(w.heldEvents, w.heldBytes) }()
	var timer *time.Timer
	for {
		mode := stopMode(w.mode.Load())
		if mode == stopLost || mode == stopRevoke || w.ctx.Err() != nil {
			return
		}
		w.drainQueue()
		now := w.r.o.Now()
		holding := w.hold >= 0 && w.batcher.Last() < w.hold
		// Under memory pressure (the runner's budget is spent) every
		// partition writes what it has, even short of a full batch: the
		// room it frees lets the others go on.
		if w.batcher.Len() > 0 && !holding && (w.batcher.Due(now) || mode == stopDrain || w.r.budget.spent()) {
			w.flush(now)
			continue
		}
		if mode == stopDrain {
			return // everything written; nothing more will come
		}
		var tick <-chan time.Time
		if until := w.batcher.Until(now); until >= 0 && !holding {
			if timer == nil {
				timer = time.NewTimer(until)
			} else {
				timer.Reset(until)
			}
			tick = timer.C
		}
		select {
		case <-w.wake:
		case <-tick:
		case <-w.ctx.Done():
		}
	}
}

// drainQueue moves queued records into the batcher: decoded, validated and
// redacted. Records that are not valid events go to the dead-letter topic.
func (w *worker) drainQueue() {
	w.mu.Lock()
	// The batcher takes at most two batches' worth, in bytes and in events
	// (more only to reach a NeedMore offset): the batch being written and
	// the next. The rest stays queued, where it counts towards pausing the
	// partition. This is what bounds memory, in an outage or a backlog.
	// Within that, the runner's budget bounds all partitions together:
	// each record is counted against it as it is taken, so that workers
	// taking at the same moment overshoot it by one record at most.
	room := 2*w.r.policy.MaxBytes - w.heldBytes
	roomEvents := 2*w.r.policy.MaxEvents - w.heldEvents
	n := 0
	for n < len(w.queue) && ((room > 0 && roomEvents > 0 && !w.r.budget.spent()) || w.hold >= 0) {
		size := len(w.queue[n].Value)
		room -= size
		roomEvents--
		w.queued -= size
		w.heldEvents++
		w.heldBytes += size
		w.r.budget.take(size)
		n++
	}
	recs := w.queue[:n:n]
	w.queue = w.queue[n:]
	if w.paused && w.queued < w.r.o.QueueBytes/2 {
		w.paused = false
		w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.topic: {w.partition}})
		w.r.m.paused.Dec()
	}
	w.mu.Unlock()
	now := w.r.o.Now()
	for _, rec := range recs {
		if w.next < 0 && !w.start(rec) {
			return
		}
		ev, err := record.Decode(rec)
		if err == nil {
			err = record.Validate(ev)
		}
		if err != nil {
			if !w.deadLetter(rec, record.Reason(err), err) {
				return // stopping; the batch will not be committed either
			}
			w.release(1, len(rec.Value))
			continue
		}
		w.r.redact.Apply(ev)
		w.batcher.Add(batch.Item{Offset: rec.Offset, LeaderEpoch: rec.LeaderEpoch, Event: ev, Size: len(rec.Value)}, now)
	}
}

// start learns where the partition's first batch begins: the group's
// committed offset (the Writer may key its state on it), or the first
// record's offset when nothing was committed yet. It retries until it
// knows, and reports false only when the worker is stopping.
func (w *worker) start(first *kgo.Record) bool {
	for {
		resp, err := w.r.adm.FetchOffsets(w.ctx, w.r.group)
		if err == nil {
			err = resp.Error()
		}
		if err == nil {
			w.next = first.Offset
			if o, ok := resp.Lookup(w.r.topic, w.partition); ok && o.At >= 0 && o.At <= first.Offset {
				w.next = o.At
			}
			return true
		}
		if !w.sleep(w.backoff.next()) {
			return false
		}
		w.r.log.Warn("fetch committed offset", "partition", w.partition, "err", err)
	}
}

// flush writes one batch, retrying until it is durable, then commits.
func (w *worker) flush(now time.Time) {
	b := w.batcher.Flush(w.r.topic, w.partition, w.next, w.hold)
	w.r.m.batchEvents.Observe(float64(b.Len()))
	w.r.m.batchBytes.Observe(float64(b.Bytes))
	w.r.m.batchAge.Observe(now.Sub(b.Items[0].Arrived).Seconds())
	started := time.Now()
	res, ok := w.write(b)
	if !ok {
		return
	}
	w.r.m.writeTime.Observe(time.Since(started).Seconds())
	if len(res.Rejected) > 0 && !w.deadLetterRejected(b, res.Rejected) {
		return // stopping: commit nothing past a rejected event not yet in the DLQ
	}
	epoch := int32(-1)
	if res.Through == b.Last() {
		epoch = b.Items[b.Len()-1].LeaderEpoch
	}
	w.commit(res.Through+1, epoch)
	w.r.m.delivered.Add(float64(b.Len() - len(res.Rejected)))
	w.r.m.lastWrite.SetToCurrentTime()
	w.next = res.Through + 1
	w.hold = -1
	dropped, droppedBytes := w.batcher.Drop(res.Through)
	w.release(b.Len()+dropped, b.Bytes+droppedBytes)
}

// release gives back what delivered (or dead-lettered) records held, and
// wakes the workers that may be waiting for room.
func (w *worker) release(events, bytes int) {
	w.heldEvents -= events
	w.heldBytes -= bytes
	// Only a spent budget has workers waiting on it.
	waiting := w.r.budget.spent()
	w.r.budget.release(bytes)
	if waiting {
		w.r.wakeAll()
	}
}

// write calls the Writer until it succeeds. It gives up only when the
// worker is stopped (the batch is then not committed and will be read
// again by whoever owns the partition next). A NeedMoreError puts the
// batch back to grow.
func (w *worker) write(b *batch.Batch) (Result, bool) {
	defer w.failing.Store(nil)
	for attempt := 1; ; attempt++ {
		res, err := w.r.o.Writer.Write(w.ctx, b)
		if err == nil {
			if attempt > 1 {
				w.r.log.Info("write recovered", "partition", w.partition, "first", b.First(), "attempts", attempt)
			}
			w.backoff.reset()
			return res, true
		}
		if w.ctx.Err() != nil {
			return Result{}, false
		}
		var more *NeedMoreError
		if errors.As(err, &more) {
			w.batcher.Prepend(b.Items)
			w.hold = more.Through
			w.r.m.retries.WithLabelValues("need_more").Inc()
			return Result{}, false
		}
		w.failing.Store(&err)
		wait, reason := w.backoff.waitFor(err, w.r.o.MaxBackoff)
		w.r.m.retries.WithLabelValues(reason).Inc()
		level := w.r.log.Warn
		if reason == "unauthorized" {
			level = w.r.log.Error // an operator must act; say so every time
		}
		if attempt == 1 || attempt%10 == 0 || reason == "unauthorized" {
			level("write failed; retrying", "partition", w.partition, "first", b.First(), "events", b.Len(),
				"attempt", attempt, "wait", wait.Round(time.Millisecond), "reason", reason, "err", err)
		}
		if !w.sleep(wait) {
			return Result{}, false
		}
	}
}

// sleep waits d, or less if the worker is stopped; it reports whether the
// worker may go on.
func (w *worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// commit commits the partition's offset, synchronously so that a revoke
// cannot cancel it. A lost partition commits nothing: another member may
// own it already.
func (w *worker) commit(offset int64, epoch int32) {
	if stopMode(w.mode.Load()) == stopLost {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets := map[string]map[int32]kgo.EpochOffset{w.r.topic: {w.partition: {Epoch: epoch, Offset: offset}}}
	w.r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitError(resp)
		}
		if err != nil {
			// The next commit carries a later offset; a new owner starts
			// from the last commit that did succeed.
			w.r.log.Warn("commit", "partition", w.partition, "offset", offset, "err", err)
		}
	})
}

// deadLetter sends a record to the dead-letter topic, retrying until Kafka
// takes it: a record is never dropped, and its offset is not committed
// before it is in the DLQ. It reports false only when the worker stopped
// first.
func (w *worker) deadLetter(rec *kgo.Record, reason string, cause error) bool {
	d := record.DeadLetter(rec, w.r.dlq, w.r.stage, reason, cause, int(w.r.o.Pipeline.RecordBytes()))
	for {
		err := w.r.cl.ProduceSync(w.ctx, d).FirstErr()
		if err == nil {
			w.r.m.dlq.WithLabelValues(reason).Inc()
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		w.r.log.Warn("dead-letter produce", "partition", w.partition, "offset", rec.Offset, "err", err)
		if !w.sleep(w.backoff.next()) {
			return false
		}
	}
}

// deadLetterRejected dead-letters the events a writer rejected, as the
// records they were read from. Batches do not keep those records (a record
// pins the whole fetched batch it was decompressed into, which doubled the
// sink's memory), and writers reject rarely, so the records are read again.
// A record no longer in Kafka (past retention) is dead-lettered as its
// decoded, redacted event. It reports false only when the worker stopped.
func (w *worker) deadLetterRejected(b *batch.Batch, rejected []Rejected) bool {
	offsets := make([]int64, 0, len(rejected))
	for _, rej := range rejected {
		offsets = append(offsets, rej.Offset)
	}
	slices.Sort(offsets)
	var recs map[int64]*kgo.Record
	for {
		var err error
		if recs, err = w.r.reread(w.ctx, w.partition, offsets); err == nil {
			break
		}
		if w.ctx.Err() != nil {
			return false
		}
		w.r.log.Warn("read rejected records again", "partition", w.partition, "offsets", len(offsets), "err", err)
		if !w.sleep(w.backoff.next()) {
			return false
		}
	}
	for _, rej := range rejected {
		rec, cause := recs[rej.Offset], rej.Err
		if rec == nil {
			it, found := b.Item(rej.Offset)
			if !found {
				continue // not this batch's: nothing to dead-letter
			}
			var err error
			if rec, err = record.Marshal(it.Event, record.Protobuf); err != nil {
				rec = &kgo.Record{}
			}
			rec.Topic, rec.Partition, rec.Offset = w.r.topic, w.partition, rej.Offset
			cause = fmt.Errorf("%w (the record is no longer in Kafka; this is its event as delivered)", rej.Err)
		}
		if !w.deadLetter(rec, rej.Reason, cause) {
			return false
		}
	}
	return true
}

// commitError returns the first partition error of a commit response.
func commitError(resp *kmsg.OffsetCommitResponse) error {
	if resp == nil {
		return nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}
