package sink

import (
	"sync"
	"sync/atomic"
)

// budget bounds what all of a runner's workers hold, in record bytes. A
// worker takes room as it batches records and gives it back once
// their batch is delivered. Workers taking at the same moment may overshoot
// the limit by a record each.
//
// One partition at a time may overdraw it: a batch that must grow to an
// earlier writer's delivery (Extender) cannot be written, and so cannot
// free anything, before it has every record of that delivery. The
// overdraft is limited to the records up to the delivery's end, so the
// runner holds at most the budget plus one such delivery.
//
// Records are held as their values until their batch is written; then
// they are decoded, and an event takes about twice its value. Batches being
// written are charged that difference (decoding) while they are: it counts
// towards spending the budget, so that other partitions take fewer records
// meanwhile, but it is not waited for.
type budget struct {
	limit    int64
	used     atomic.Int64 // record bytes held
	decoding atomic.Int64 // the charge of batches being written
	workers  atomic.Int64 // the workers sharing it

	mu        sync.Mutex
	freed     chan struct{} // closed when room is given back while the budget was spent
	overdraft int32         // the partition that may overdraw, or -1
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, freed: make(chan struct{}), overdraft: -1}
}

func (b *budget) spent() bool { return b.used.Load()+b.decoding.Load() >= b.limit }
func (b *budget) join()       { b.workers.Add(1) }
func (b *budget) leave()      { b.workers.Add(-1) }

// share is a worker's fair share of the budget: its limit over the
// workers sharing it. When the budget is spent, at least one worker holds
// its share or has a write in flight, which will give room back.
func (b *budget) share() int64   { return b.limit / max(1, b.workers.Load()) }
func (b *budget) take(bytes int) { b.used.Add(int64(bytes)) }

// release gives room back, and wakes the workers waiting for it.
func (b *budget) release(bytes int) { b.giveBack(&b.used, bytes) }

// charge counts a batch being written, of bytes decoded from values, until
// discharge.
func (b *budget) charge(bytes int)    { b.decoding.Add(int64(bytes)) }
func (b *budget) discharge(bytes int) { b.giveBack(&b.decoding, bytes) }

func (b *budget) giveBack(n *atomic.Int64, bytes int) {
	// Only a spent budget has workers waiting on it.
	waiting := b.spent()
	n.Add(-int64(bytes))
	if waiting {
		b.wake()
	}
}

// changed returns a channel that is closed the next time room is given
// back while the budget is spent, or the overdraft is given up. Ask for it
// before looking at the budget, so that no change is missed.
func (b *budget) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freed
}

func (b *budget) wake() {
	b.mu.Lock()
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// overdraw reports whether partition may take records beyond the budget:
// it holds the overdraft, or takes it now that nobody does.
func (b *budget) overdraw(partition int32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.overdraft < 0 {
		b.overdraft = partition
	}
	return b.overdraft == partition
}

// settle gives up partition's overdraft, if it holds it.
func (b *budget) settle(partition int32) {
	b.mu.Lock()
	held := b.overdraft == partition
	if held {
		b.overdraft = -1
	}
	b.mu.Unlock()
	if held {
		b.wake()
	}
}
