// Package offsets reads where a consumer group stands on a topic, and counts
// the records of offset ranges, as a read_committed consumer sees them.
//
// Offsets are not records. A topic written transactionally (every
// connector topic: the router writes it in transactions) holds one commit
// marker per partition per transaction; a consumer never sees it, and a
// sink that delivered every record commits the offset of the marker, one
// short of the end. So a group that is caught up has end-committed = 1 on
// every partition the router wrote to since. Lag here counts records, not
// offsets: the range from the committed offset to the last stable offset
// is read (up to a bound) and its control records are left out.
package offsets

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition is where a group stands on one partition.
type Partition struct {
	Partition int32 `json:"partition"`
	// Start is the partition's first offset still in the log (retention).
	Start int64 `json:"start"`
	// End is the last stable offset: the end a read_committed consumer
	// can reach (the high watermark unless a transaction is open).
	End int64 `json:"end"`
	// Committed is the group's committed offset, or -1 when the group has
	// committed none for this partition (it then starts at Start).
	Committed int64 `json:"committed"`
	// Lag is the number of records from the committed offset to End.
	Lag int64 `json:"lag"`
	// Approx says Lag counts offsets (markers included) because the range
	// was larger than the counting bound.
	Approx bool `json:"approx,omitempty"`
}

// Ends returns the first offset, and the last stable offset, of every
// partition of topic.
func Ends(ctx context.Context, adm *kadm.Client, topic string) (start, end map[int32]int64, err error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	// ListCommittedOffsets asks with read_committed isolation: the answer
	// is the last stable offset, not the high watermark.
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	start, end = map[int32]int64{}, map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) { start[o.Partition] = o.Offset })
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	if len(end) == 0 {
		return nil, nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return start, end, nil
}

// Committed returns the group's committed offsets on topic.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	got, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
	}
	out := map[int32]int64{}
	var ferr error
	got.Each(func(o kadm.OffsetResponse) {
		if o.Topic != topic {
			return
		}
		if o.Err != nil {
			ferr = o.Err
			return
		}
		out[o.Partition] = o.At
	})
	if ferr != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, ferr)
	}
	return out, nil
}

// DefaultCountBound is how many offsets per partition Lag reads to count
// records exactly.
const DefaultCountBound = 10_000

// Lag returns where group stands on every partition of topic. Ranges up
// to bound offsets are counted exactly (see Count); larger ones are
// reported as offsets, Approx.
func Lag(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, group, topic string, bound int64) ([]Partition, error) {
	start, end, err := Ends(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	committed, err := Committed(ctx, adm, group, topic)
	if err != nil {
		return nil, err
	}
	var out []Partition
	ranges := map[int32]Range{}
	for p, e := range end {
		pp := Partition{Partition: p, Start: start[p], End: e, Committed: -1}
		from := start[p]
		if c, ok := committed[p]; ok && c >= 0 {
			pp.Committed = c
			from = max(c, start[p])
		}
		pp.Lag = max(e-from, 0)
		if pp.Lag > bound {
			pp.Approx = true
		} else if pp.Lag > 0 {
			ranges[p] = Range{From: from, To: e}
		}
		out = append(out, pp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	if len(ranges) == 0 {
		return out, nil
	}
	counts, err := Count(ctx, opts, topic, ranges, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if n, ok := counts[out[i].Partition]; ok {
			out[i].Lag = n
		}
	}
	return out, nil
}

// Total sums the lag of ps.
func Total(ps []Partition) (lag int64, approx bool) {
	for _, p := range ps {
		lag += p.Lag
		approx = approx || p.Approx
	}
	return lag, approx
}

// Range is the offsets From (inclusive) to To (exclusive) of a partition.
type Range struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Count reads the ranges of topic with read_committed isolation and counts
// their records: control records (transaction markers) and records of
// aborted transactions are not counted. To should be at most the last
// stable offset. progress, when set, is called with the offsets read so
// far.
func Count(ctx context.Context, opts []kgo.Opt, topic string, ranges map[int32]Range, progress func(read int64)) (map[int32]int64, error) {
	counts := map[int32]int64{}
	for p := range ranges {
		counts[p] = 0
	}
	err := ReadRanges(ctx, opts, topic, ranges, Reader{
		// The marker at the end of a range is the only sign that it was
		// read through: ReadRanges keeps control records; leave them out
		// of the count here.
		Record: func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				counts[r.Partition]++
			}
		},
		Progress: progress,
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}
