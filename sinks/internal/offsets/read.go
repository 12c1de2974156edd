package offsets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// readTimeout bounds a ReadRanges that stops making progress.
const readTimeout = 30 * time.Second

// Reader says what ReadRanges does with the records it reads.
type Reader struct {
	// Record is called for each record of a range, control records
	// (transaction markers) included, in offset order within a partition.
	Record func(r *kgo.Record)
	// Polled, when set, is called after the records of each poll with the
	// partitions that poll finished, in partition order (often none). An
	// error ends the read.
	Polled func(ended []int32) error
	// Progress, when set, is called after a poll that read records of the
	// ranges, with the number read so far (control records included).
	Progress func(read int64)
}

// ReadRanges reads the ranges of topic with read_committed isolation and
// hands their records to rd, until every range is read through. A range
// ends at the record at To-1 or the first record at or past To (the
// marker at the end of a range is often the only sign that it was read
// through, so control records are kept). To should be at most the last
// stable offset: a read that makes no progress for 30s fails. Empty ranges
// are skipped; ranges is not changed.
func ReadRanges(ctx context.Context, opts []kgo.Opt, topic string, ranges map[int32]Range, rd Reader) error {
	at := map[int32]kgo.Offset{}
	to := map[int32]int64{}
	for p, r := range ranges {
		if r.To > r.From {
			at[p] = kgo.NewOffset().At(r.From)
			to[p] = r.To
		}
	}
	if len(at) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	var read int64
	last := time.Now()
	for len(to) > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var ended []int32
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := to[r.Partition]
			if !ok {
				return // finished already
			}
			if r.Offset >= end {
				delete(to, r.Partition)
				ended = append(ended, r.Partition)
				return
			}
			n++
			if r.Offset >= end-1 {
				delete(to, r.Partition)
				ended = append(ended, r.Partition)
			}
			rd.Record(r)
		})
		read += int64(n)
		if len(ended) > 0 {
			slices.Sort(ended)
			cl.PauseFetchPartitions(map[string][]int32{topic: ended})
		}
		if rd.Polled != nil {
			if err := rd.Polled(ended); err != nil {
				return err
			}
		}
		if n > 0 {
			last = time.Now()
			if rd.Progress != nil {
				rd.Progress(read)
			}
		} else if time.Since(last) > readTimeout {
			return fmt.Errorf("read %s: no progress for %s (is a transaction open?)", topic, readTimeout)
		}
	}
	return nil
}
