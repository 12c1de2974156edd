package sink

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// stopMode is how a worker ends. A later mode only ever replaces an
// earlier one (a drain can become a revoke, a revoke a loss).
type stopMode int32

const (
	running    stopMode = iota
	stopDrain           // shutdown: flush everything, commit, then end
	stopRevoke          // revoked: no new writes; finish or abandon the one in flight
	stopLost            // lost: end now, commit nothing
)

// workerDeps are what a runner's workers share: each is given them when it
// starts, and uses nothing else.
type workerDeps struct {
	topic  string
	out    Writer
	ext    Extender // out's optional capability, or nil
	kafka  *kafkaLog
	decode decoder
	budget *budget
	policy batch.Policy
	m      *metrics
	log    *slog.Logger
	now    func() time.Time
	// maxBackoff caps the wait between retries; an unauthorized
	// destination is retried at this pace.
	maxBackoff time.Duration
	// revokeGrace and drainTimeout bound a revoked partition's in-flight
	// write and the final flush at shutdown.
	revokeGrace, drainTimeout time.Duration
}

// worker delivers one partition: it takes records from the partition's
// intake, turns them into batches, writes them one at a time (retrying
// failures), dead-letters what cannot be delivered, and commits after each
// write.
type worker struct {
	workerDeps
	partition int32
	in        *intake
	batcher   *batch.Batcher
	retry     retrier
	health    health
	lag       prometheus.Gauge

	// next is where the partition's next batch begins: the committed
	// offset at first, then one past what the last write covered. -1 until
	// the committed offset is known.
	next int64
	// pos is one past the last offset taken from the intake: records
	// batched or dead-lettered, and transaction markers.
	pos int64
	// hold, when not -1, is the offset the batch must reach before it is
	// written again (an Extender's earlier delivery).
	hold int64
	// held is what the worker holds decoded: its batcher and the batch in
	// flight, in events and record bytes (its share of the budget).
	heldEvents, heldBytes int
	// end is the partition's last stable offset at the latest fetch, and
	// queued whether the intake still holds records.
	end    int64
	queued bool
	// stuck is set while checkGrowth reports the partition unhealthy.
	stuck bool
	// dead are the offsets dead-lettered since next (the first few): the
	// explanation when a write that must adopt an earlier delivery fails.
	dead []int64

	mode atomic.Int32 // a stopMode
	// cancel ends the context run was given: a loss at once, a revoke or
	// a drain once its time is up.
	cancel context.CancelFunc
	done   chan struct{}
}

func newWorker(d workerDeps, partition int32, in *intake, cancel context.CancelFunc) *worker {
	w := &worker{
		workerDeps: d,
		partition:  partition,
		in:         in,
		batcher:    batch.New(d.policy),
		lag:        d.m.lag.WithLabelValues(strconv.Itoa(int(partition))),
		next:       -1,
		pos:        -1,
		hold:       -1,
		end:        -1,
		cancel:     cancel,
		done:       make(chan struct{}),
	}
	w.log = d.log.With("partition", partition)
	w.retry = retrier{
		backoff: backoff{min: 100 * time.Millisecond, max: d.maxBackoff},
		slowest: d.maxBackoff,
		log:     w.log,
		retries: d.m.retries,
		health:  &w.health,
	}
	return w
}

// stop asks the worker to end. A revoke gives the in-flight write a grace
// period; a loss cancels it at once.
func (w *worker) stop(how stopMode) {
	for {
		cur := w.mode.Load()
		if int32(how) <= cur {
			return
		}
		if w.mode.CompareAndSwap(cur, int32(how)) {
			break
		}
	}
	w.in.notify()
	switch how {
	case stopLost:
		w.cancel()
	case stopRevoke:
		time.AfterFunc(w.revokeGrace, w.cancel)
	case stopDrain:
		time.AfterFunc(w.drainTimeout, w.cancel)
	}
}

// run delivers until the worker is stopped or ctx ends.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.cancel()
	w.budget.join()
	defer w.budget.leave()
	defer func() {
		w.budget.settle(w.partition)
		w.release(w.heldEvents, w.heldBytes)
	}()
	var timer *time.Timer
	for {
		mode := stopMode(w.mode.Load())
		if mode >= stopRevoke || ctx.Err() != nil {
			return
		}
		roomChanged := w.budget.changed() // before taking, so that no release is missed
		if !w.intakeRecords(ctx) {
			return // stopping
		}
		w.reportLag()
		now := w.now()
		if w.flushable(now, mode) {
			w.flush(ctx, now)
			continue
		}
		if mode == stopDrain && (w.batcher.Len() == 0 || w.growing()) && !w.queued {
			return // all written, or a batch that cannot grow: the next owner reads it again
		}
		var tick <-chan time.Time
		if until := w.batcher.Until(now); until >= 0 && !w.growing() {
			if timer == nil {
				timer = time.NewTimer(until)
			} else {
				timer.Reset(until)
			}
			tick = timer.C
		}
		select {
		case <-w.in.wake:
		case <-tick:
		case <-roomChanged:
		case <-ctx.Done():
		}
	}
}

// growing reports whether the waiting batch must still grow: an earlier
// writer's delivery, which the batch must hold whole, ends at w.hold, and
// the partition has not been read that far. Dead letters and transaction
// markers count as read: a record this build dead-letters can end such a
// delivery (a rolling upgrade), and waiting for it would wait forever.
func (w *worker) growing() bool { return w.hold >= 0 && w.pos <= w.hold }

// flushable reports whether the waiting records should be written now.
// Under memory pressure (the budget is spent) a partition that holds its
// share of the budget writes what it has, even short of a full batch: the
// room it frees lets the others go on. The others wait for that room
// rather than write short batches too: while draining a backlog, short
// batches would be the rule (each a PUT, or a request, of its own). At
// shutdown everything is written.
func (w *worker) flushable(now time.Time, mode stopMode) bool {
	if w.batcher.Len() == 0 || w.growing() {
		return false
	}
	return w.batcher.Due(now) || mode == stopDrain ||
		w.budget.spent() && int64(w.heldBytes) >= w.budget.share()
}

// hasRoom reports whether the worker may take another record: it holds at
// most two batches' worth, in bytes and in events (the batch being written
// and the next), within the runner's budget. The rest stays queued, where
// it counts towards pausing the partition. This is what bounds memory, in
// an outage or a backlog.
func (w *worker) hasRoom() bool {
	return w.heldBytes < 2*w.policy.MaxBytes && w.heldEvents < 2*w.policy.MaxEvents && !w.budget.spent()
}

// accept decides, under the intake's lock, whether to take a queued
// record, and counts it as held. Each record is counted against the
// budget as it is taken, so that workers taking at the same moment
// overshoot it by one record at most.
func (w *worker) accept(rec *kgo.Record) bool {
	if rec.Attrs.IsControl() {
		return true // a transaction marker: no event, only a position
	}
	if !w.hasRoom() {
		// A batch that must grow to an earlier delivery takes the records
		// up to that delivery's end beyond its room, when it may
		// overdraw the budget; nothing past it.
		if !w.growing() || rec.Offset > w.hold || !w.budget.overdraw(w.partition) {
			return false
		}
	}
	size := len(rec.Value)
	w.heldEvents++
	w.heldBytes += size
	w.budget.take(size)
	return true
}

// intakeRecords moves queued records into the batcher. Records that are not
// events this connector may deliver go to the dead-letter topic. It
// reports false when the worker is stopping.
func (w *worker) intakeRecords(ctx context.Context) bool {
	recs, end, more := w.in.take(w.accept)
	w.end, w.queued = end, more
	for i, rec := range recs {
		if w.next < 0 && !w.start(ctx, rec) {
			w.releaseRecords(recs[i:])
			return false
		}
		w.pos = rec.Offset + 1
		if rec.Attrs.IsControl() {
			continue
		}
		if rec.Offset < w.next {
			// Delivered already: a write adopted a delivery through it.
			w.release(1, len(rec.Value))
			continue
		}
		it, reason, err := w.decode.check(rec)
		if err != nil {
			if reason == record.ReasonFilterMismatch {
				w.m.filterMismatch.Inc()
			}
			if !w.deadLetter(ctx, rec, reason, err) {
				w.releaseRecords(recs[i:])
				return false // stopping; the batch will not be committed either
			}
			if len(w.dead) < maxDeadNoted {
				w.dead = append(w.dead, rec.Offset)
			}
			w.release(1, len(rec.Value))
			continue
		}
		w.batcher.Add(it, w.now())
	}
	w.checkGrowth()
	return true
}

// releaseRecords gives back what records taken but not batched held.
func (w *worker) releaseRecords(recs []*kgo.Record) {
	for _, rec := range recs {
		if !rec.Attrs.IsControl() {
			w.release(1, len(rec.Value))
		}
	}
}

// checkGrowth marks the partition as not making progress while its batch
// must grow to an offset that its log does not reach: every record of an
// earlier delivery was in Kafka before that delivery began, so they are
// gone (a deleted and recreated topic, or retention).
func (w *worker) checkGrowth() {
	stuck := w.growing() && !w.queued && w.end >= 0 && w.pos >= w.end
	if w.stuck && !stuck {
		w.health.clear()
	}
	w.stuck = stuck
	if stuck {
		w.health.set(fmt.Errorf("the batch must grow through offset %d, a delivery an earlier writer began, but the partition ends at %d",
			w.hold, w.end))
	}
}

// start learns where the partition's first batch begins: the group's
// committed offset (the Writer may key its state on it), or the first
// record's offset when nothing was committed yet. It reports false only
// when the worker is stopping.
func (w *worker) start(ctx context.Context, first *kgo.Record) bool {
	var at int64
	var ok bool
	err := w.retry.do(ctx, "fetch committed offset", func(ctx context.Context) (err error) {
		at, ok, err = w.kafka.committed(ctx, w.partition)
		return err
	})
	if err != nil {
		return false
	}
	w.next = first.Offset
	if ok && at <= first.Offset {
		w.next = at
	}
	if ok && at < first.Offset {
		w.countExpired(ctx, at, first.Offset)
	}
	return true
}

// countExpired accounts for the offsets from the committed offset at up to
// the first record read, first: those below the partition's log start
// offset were deleted by retention (or DeleteRecords) before the sink
// delivered them, and are lost to the destination. The rest are offsets
// the read skipped on purpose (aborted transactions) and are not counted.
func (w *worker) countExpired(ctx context.Context, at, first int64) {
	start, err := w.kafka.logStart(ctx, w.partition)
	if err != nil {
		w.log.Warn("could not read the log start offset to account for records skipped at the committed offset",
			"partition", w.partition, "committed", at, "first_read", first, "err", err)
		return
	}
	if start <= at {
		return
	}
	end := min(start, first)
	w.m.expired.WithLabelValues(strconv.Itoa(int(w.partition))).Add(float64(end - at))
	w.log.Error("records expired from Kafka before the sink delivered them: they are lost to the destination",
		"partition", w.partition, "from_offset", at, "to_offset", end-1, "records", end-at, "log_start", start)
}

// reportLag sets the partition's lag: how far the end of its readable log
// is past what the worker has delivered. Once everything read is
// delivered, transaction markers read after the last batch count as
// delivered too, so a caught-up partition reads 0.
func (w *worker) reportLag() {
	if w.end < 0 || w.next < 0 {
		return
	}
	delivered := w.next
	if w.batcher.Len() == 0 && w.heldEvents == 0 && !w.queued {
		delivered = max(delivered, w.pos)
	}
	w.lag.Set(float64(max(w.end-delivered, 0)))
}

// flush writes one batch, retrying until it is durable, then commits.
func (w *worker) flush(ctx context.Context, now time.Time) {
	b := w.batcher.Flush(w.topic, w.partition, w.next, w.hold)
	last := b.Last()
	decoded, ok := w.decodeBatch(ctx, b)
	if !ok {
		return // stopping
	}
	w.budget.charge(decoded)
	defer w.budget.discharge(decoded)
	if b.Len() == 0 {
		// Every record dead-lettered: nothing to write.
		w.settle(ctx, last, -1)
		return
	}
	w.m.batchEvents.Observe(float64(b.Len()))
	w.m.batchBytes.Observe(float64(b.Bytes))
	w.m.batchAge.Observe(now.Sub(b.Items[0].Arrived).Seconds())
	started := time.Now()
	res, ok := w.write(ctx, b)
	if !ok {
		return
	}
	w.m.writeTime.Observe(time.Since(started).Seconds())
	if len(res.Rejected) > 0 && !w.deadLetterRejected(ctx, b, res.Rejected) {
		return // stopping: commit nothing past a rejected event not yet in the DLQ
	}
	epoch := int32(-1)
	if res.Through == b.Last() {
		epoch = b.Items[b.Len()-1].LeaderEpoch
	}
	if !w.settle(ctx, res.Through, epoch) {
		return
	}
	w.m.delivered.Add(float64(b.Len() - len(res.Rejected)))
	w.m.lastWrite.SetToCurrentTime()
	w.release(b.Len(), b.Bytes)
}

// settle commits the partition through offset through (epoch: its
// record's leader epoch, or -1) once a batch is delivered, and moves the
// worker past it. It reports false when the worker stopped first.
func (w *worker) settle(ctx context.Context, through int64, epoch int32) bool {
	if !w.commit(ctx, through+1, epoch) {
		return false
	}
	w.next = through + 1
	w.hold = -1
	w.dead = slices.DeleteFunc(w.dead, func(o int64) bool { return o <= through })
	w.budget.settle(w.partition)
	dropped, droppedBytes := w.batcher.Drop(through)
	w.release(dropped, droppedBytes)
	return true
}

// decodeBatch decodes the events of a batch's items that hold values, in
// place, and returns their bytes. An item that does not decode is
// dead-lettered and taken out of the batch. It reports false when the
// worker stopped first: then the batch is not written.
func (w *worker) decodeBatch(ctx context.Context, b *batch.Batch) (decoded int, ok bool) {
	var failed []Rejected
	for i := range b.Items {
		it := &b.Items[i]
		if it.Event != nil {
			continue
		}
		ev, reason, err := w.decode.event(it)
		if err != nil {
			failed = append(failed, Rejected{Offset: it.Offset, Reason: reason, Err: err})
			continue
		}
		it.Event, it.Value = ev, nil
		decoded += it.Size
	}
	if len(failed) == 0 {
		return decoded, true
	}
	if !w.deadLetterRejected(ctx, b, failed) {
		return 0, false
	}
	dead, deadBytes := 0, 0
	b.Items = slices.DeleteFunc(b.Items, func(it batch.Item) bool {
		if it.Event != nil {
			return false
		}
		dead++
		deadBytes += it.Size
		if len(w.dead) < maxDeadNoted {
			w.dead = append(w.dead, it.Offset)
		}
		return true
	})
	b.Bytes -= deadBytes
	w.release(dead, deadBytes)
	return decoded, true
}

// write calls the Writer until it succeeds. It gives up when the worker is
// stopped (the batch is then not committed and will be read again by
// whoever owns the partition next), and when an Extender asks for the
// batch to grow: the batch then goes back to the batcher.
func (w *worker) write(ctx context.Context, b *batch.Batch) (Result, bool) {
	var res Result
	err := w.retry.do(ctx, "write", func(ctx context.Context) (err error) {
		res, err = w.out.Write(ctx, b)
		if err != nil && w.ext != nil {
			if through, ok := w.ext.ExtendTo(err); ok {
				if w.hold >= through && through < w.pos {
					// The batch was cut to hold every record through
					// w.hold, and the partition had been read past it: it
					// holds every record up to through that this build
					// delivers, and can grow no further.
					return w.adoptionError(fmt.Errorf("%w, but the batch holds every record through it that this build delivers", err))
				}
				// Grow the batch, even when the records are read already:
				// the batcher may hold them beyond this batch (cut at
				// max_events or max_bytes, shorter than the earlier
				// writer's delivery, as after a change of batch settings).
				return permanent(err)
			}
			if w.hold >= 0 {
				return w.adoptionError(err)
			}
		}
		return err
	}, "first", b.First(), "events", b.Len())
	if err == nil {
		return res, true
	}
	if w.ext != nil {
		if through, ok := w.ext.ExtendTo(err); ok {
			w.log.Info("the batch must grow to an earlier writer's delivery", "first", b.First(), "last", b.Last(), "through", through)
			w.batcher.Prepend(b.Items)
			w.hold = through
			w.m.retries.WithLabelValues("need_more").Inc()
		}
	}
	return Result{}, false
}

// maxDeadNoted bounds the dead-lettered offsets a worker remembers.
const maxDeadNoted = 16

// adoptionError explains a failed write of a batch grown to an earlier
// writer's delivery.
//
// What happens in a rolling upgrade whose builds disagree on a record (one
// dead-letters it, the other delivers it) inside a delivery the earlier
// build began and did not finish: this build cannot rebuild that delivery
// as it was claimed, and it never writes over, skips or commits past it.
// The partition stops there, with nothing lost (the record is in the
// dead-letter topic, the rest in Kafka) and nothing committed, and the sink
// is not ready, saying which offsets. Either the build that began the
// delivery finishes it, or an operator moves the partition's offset past
// it (sink verify then reports the unfinished delivery). After the first,
// the record is in the earlier build's object and in the DLQ, and sink
// verify reports that on the delivery (count, and dlq_overlap when an
// object ends or begins at it): the disagreement stays on the record.
func (w *worker) adoptionError(err error) error {
	dead := slices.DeleteFunc(slices.Clone(w.dead), func(o int64) bool { return o > w.hold })
	if len(dead) == 0 {
		return fmt.Errorf("adopting an earlier writer's delivery through offset %d: %w", w.hold, err)
	}
	return fmt.Errorf("adopting an earlier writer's delivery through offset %d: %w; this build dead-lettered offsets %v of it "+
		"(a rolling upgrade whose builds disagree on these records?): let the build that began the delivery finish it, "+
		"or move the partition's offset past %d", w.hold, err, dead, w.hold)
}

// commit commits the partition's offset, retrying until it succeeds. A
// lost partition commits nothing: another member may own it already. It
// reports false only when the worker stopped first.
func (w *worker) commit(ctx context.Context, offset int64, epoch int32) bool {
	if stopMode(w.mode.Load()) == stopLost {
		return false
	}
	err := w.retry.do(ctx, "commit", func(ctx context.Context) error {
		return w.kafka.commit(ctx, w.partition, offset, epoch)
	}, "offset", offset)
	return err == nil
}

// release gives back what delivered (or dead-lettered) records held.
func (w *worker) release(events, bytes int) {
	w.heldEvents -= events
	w.heldBytes -= bytes
	w.budget.release(bytes)
}
