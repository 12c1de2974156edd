package sink

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rereadTimeout bounds the search for records that may be gone.
const rereadTimeout = 30 * time.Second

// reread reads the records at offsets (ascending) of one partition of the
// runner's topic again, with a client of its own, outside the group. A
// record that is no longer in Kafka (deleted by retention: the read then
// begins past it) is missing from the result.
func (r *Runner) reread(ctx context.Context, partition int32, offsets []int64) (map[int64]*kgo.Record, error) {
	opts := append(slices.Clip(r.rereadOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: {partition: kgo.NewOffset().At(offsets[0])}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeoutCause(ctx, rereadTimeout, fmt.Errorf("records not read within %s", rereadTimeout))
	defer cancel()
	want := map[int64]bool{}
	for _, o := range offsets {
		want[o] = true
	}
	last := offsets[len(offsets)-1]
	out := map[int64]*kgo.Record{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if err := fs.Err0(); err != nil {
			return nil, err
		}
		done := false
		fs.EachRecord(func(rec *kgo.Record) {
			if want[rec.Offset] {
				out[rec.Offset] = rec
			}
			done = done || rec.Offset >= last
		})
		if done {
			return out, nil
		}
	}
}
