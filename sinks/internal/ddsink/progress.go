package ddsink

import (
	"cmp"
	"slices"
	"sync"

	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// partitionKey names a partition of a connector topic.
type partitionKey struct {
	topic     string
	partition int32
}

// progress is what became of a batch's entries so far, across the failed
// attempts to write it: the offsets the intake accepted (202) and the
// events rejected for good. A retry sends neither again. One Write at a
// time uses a progress, since the runtime writes a partition's batches one
// after the other.
type progress struct {
	first    int64
	accepted map[int64]bool
	rejected map[int64]sink.Rejected
	// refusedRun holds the entries the intake refused alone (400) since it
	// last accepted one (see maxRefusedRun).
	refusedRun []int64
}

// done reports whether the event at offset needs no more sending.
func (p *progress) done(offset int64) bool {
	_, rejected := p.rejected[offset]
	return p.accepted[offset] || rejected
}

// accept records entries the intake took.
func (p *progress) accept(entries []entry) {
	for _, e := range entries {
		p.accepted[e.offset] = true
	}
	p.refusedRun = p.refusedRun[:0]
}

// refuse records an entry the intake refused alone with 400 as rejected,
// and reports whether that makes maxRefusedRun in a row. Then the run's
// rejections are withdrawn: the entries are sent again on the next try.
func (p *progress) refuse(r sink.Rejected) (tooMany bool) {
	p.reject(r)
	p.refusedRun = append(p.refusedRun, r.Offset)
	if len(p.refusedRun) < maxRefusedRun {
		return false
	}
	for _, o := range p.refusedRun {
		delete(p.rejected, o)
	}
	p.refusedRun = p.refusedRun[:0]
	return true
}

// reject records an event that will never be sent.
func (p *progress) reject(r sink.Rejected) {
	p.rejected[r.Offset] = r
}

// rejections returns the rejected events in offset order.
func (p *progress) rejections() []sink.Rejected {
	if len(p.rejected) == 0 {
		return nil
	}
	out := make([]sink.Rejected, 0, len(p.rejected))
	for _, r := range p.rejected {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b sink.Rejected) int { return cmp.Compare(a.Offset, b.Offset) })
	return out
}

// progressBook keeps one progress per partition: the batch in flight. It
// is safe for concurrent use by the Writes of different partitions.
type progressBook struct {
	mu     sync.Mutex
	byPart map[partitionKey]*progress
}

// begin returns the progress of b: the one kept from a failed attempt at
// the same batch, or a new one, which replaces whatever the partition had.
func (pb *progressBook) begin(b *batch.Batch) *progress {
	k := partitionKey{b.Topic, b.Partition}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if p, ok := pb.byPart[k]; ok && p.first == b.First() {
		return p
	}
	p := &progress{first: b.First(), accepted: make(map[int64]bool), rejected: make(map[int64]sink.Rejected)}
	if pb.byPart == nil {
		pb.byPart = make(map[partitionKey]*progress)
	}
	pb.byPart[k] = p
	return p
}

// end forgets the progress of b, which is delivered.
func (pb *progressBook) end(b *batch.Batch) {
	k := partitionKey{b.Topic, b.Partition}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if p, ok := pb.byPart[k]; ok && p.first == b.First() {
		delete(pb.byPart, k)
	}
}
