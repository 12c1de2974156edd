package s3sink

import (
	"time"

	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// epoch is when the sample events begin: 2026-11-25 05:58 UTC, so a few
// thousand events a second apart cross hour boundaries.
var epoch = time.Date(2026, 11, 25, 5, 58, 0, 0, time.UTC)

// sampleItems returns n realistic events (loadgen, three projects) at
// consecutive offsets from first, one second apart from epoch. The same
// seed gives the same events.
func sampleItems(n int, first int64, seed uint64) []batch.Item {
	clock := epoch
	g := loadgen.New(loadgen.Config{Seed: seed, Now: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}})
	items := make([]batch.Item, n)
	for i := range items {
		items[i] = batch.Item{Offset: first + int64(i), Event: g.Next()}
	}
	return items
}

// batchOf is a batch of partition p beginning at start.
func batchOf(p int32, start int64, items []batch.Item) *batch.Batch {
	return &batch.Batch{Topic: "audit.connector.test", Partition: p, Start: start, Items: items}
}
