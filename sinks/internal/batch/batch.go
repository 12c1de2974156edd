// Package batch groups one partition's records into deliveries, bounded by
// count, bytes and age. A Batcher is a value with no timers of its own: the
// caller adds records, asks how long until the next flush is due, and
// flushes. That keeps time in one place (the caller's loop) and makes the
// policy testable with an injected clock.
package batch

import (
	"cmp"
	"slices"
	"time"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Policy bounds a batch. A batch is due when it holds MaxEvents events or
// MaxBytes bytes, or when its oldest event has waited MaxAge.
type Policy struct {
	MaxEvents int
	MaxBytes  int
	MaxAge    time.Duration
}

// Item is one record of a connector topic, checked. A writer is given it
// decoded and redacted (Event). Until then it may hold the record's value
// instead (Value, with Event nil): a value takes a fraction of the memory
// of its decoded event, so a sink holding values holds more records in the
// same memory, and decodes each once, when its batch is written.
//
// It keeps no reference to the record itself. Value shares the bytes that
// the record's fetched batch was decompressed into; the worker takes a
// partition's records in order, so those bytes are held anyway.
type Item struct {
	Offset      int64
	LeaderEpoch int32
	JSON        bool // Value is JSON, not protobuf
	Event       *auditv1.Event
	Value       []byte    // the record's value while Event is nil
	Size        int       // the record value's size, the unit of MaxBytes
	Arrived     time.Time // set by Add
}

// Batch is a run of one partition's records, in offset order, handed to a
// writer as a unit.
type Batch struct {
	Topic     string
	Partition int32
	// Start is the partition position the batch begins at: the committed
	// offset, or one past what the previous batch covered. Items[0].Offset
	// may be larger (transaction markers take offsets too).
	Start int64
	Items []Item
	Bytes int
}

// First is the offset of the batch's first record.
func (b *Batch) First() int64 { return b.Items[0].Offset }

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.Items) }

// Item returns the batch's item at an offset.
func (b *Batch) Item(offset int64) (Item, bool) {
	i, ok := slices.BinarySearchFunc(b.Items, offset, func(it Item, o int64) int { return cmp.Compare(it.Offset, o) })
	if !ok {
		return Item{}, false
	}
	return b.Items[i], true
}

// Last is the offset of the batch's last record.
func (b *Batch) Last() int64 { return b.Items[len(b.Items)-1].Offset }

// Batcher accumulates one partition's items under a Policy.
type Batcher struct {
	policy  Policy
	items   []Item
	bytes   int
	started time.Time // when the oldest waiting item arrived
}

// New returns an empty Batcher.
func New(p Policy) *Batcher { return &Batcher{policy: p} }

// Add appends an item; now is when it arrived. It reports whether the
// batch is now due by size (count or bytes).
func (b *Batcher) Add(it Item, now time.Time) (full bool) {
	if len(b.items) == 0 {
		b.started = now
	}
	it.Arrived = now
	b.items = append(b.items, it)
	b.bytes += it.Size
	return b.Full()
}

// Full reports whether the waiting items reach the count or byte bound.
func (b *Batcher) Full() bool {
	return len(b.items) >= b.policy.MaxEvents || b.bytes >= b.policy.MaxBytes
}

// Len is the number of items waiting.
func (b *Batcher) Len() int { return len(b.items) }

// Bytes is the size of the items waiting.
func (b *Batcher) Bytes() int { return b.bytes }

// Last is the offset of the last waiting item, or -1.
func (b *Batcher) Last() int64 {
	if len(b.items) == 0 {
		return -1
	}
	return b.items[len(b.items)-1].Offset
}

// Until returns how long until the batch is due by age: zero when it is
// due now, and a negative duration when nothing waits.
func (b *Batcher) Until(now time.Time) time.Duration {
	if len(b.items) == 0 {
		return -1
	}
	return max(0, b.started.Add(b.policy.MaxAge).Sub(now))
}

// Due reports whether the waiting items should be flushed now.
func (b *Batcher) Due(now time.Time) bool {
	return b.Full() || b.Until(now) == 0
}

// Flush hands over up to MaxEvents items, at most MaxBytes (but at least
// one item, and every item through the offset through), as a batch of the
// partition beginning at start. Items beyond stay, with their arrival time.
//
// The batch has its items to itself: the batcher forgets them, so that
// nothing it keeps holds on to the events a writer decodes into them.
func (b *Batcher) Flush(topic string, partition int32, start, through int64) *Batch {
	n, size := 0, 0
	for n < len(b.items) && (b.items[n].Offset <= through ||
		n < b.policy.MaxEvents && (n == 0 || size+b.items[n].Size <= b.policy.MaxBytes)) {
		size += b.items[n].Size
		n++
	}
	out := &Batch{Topic: topic, Partition: partition, Start: start, Items: slices.Clone(b.items[:n]), Bytes: size}
	clear(b.items[:n])
	b.items = b.items[n:]
	b.bytes -= size
	return out
}

// Prepend puts a batch's items back in front of the waiting ones, for a
// batch that must grow before it can be written (see Writer's NeedMore).
// The batch's age is kept: it is due again at once.
func (b *Batcher) Prepend(items []Item) {
	size := 0
	for _, it := range items {
		size += it.Size
	}
	b.items = append(items[:len(items):len(items)], b.items...)
	b.bytes += size
	b.started = time.Time{}
}

// Drop removes waiting items at or below through: they are delivered
// already (a writer adopted an earlier, longer delivery). It returns how
// many items and bytes it removed.
func (b *Batcher) Drop(through int64) (items, bytes int) {
	i, size := 0, 0
	for i < len(b.items) && b.items[i].Offset <= through {
		size += b.items[i].Size
		i++
	}
	b.bytes -= size
	clear(b.items[:i])
	b.items = b.items[i:]
	return i, size
}
