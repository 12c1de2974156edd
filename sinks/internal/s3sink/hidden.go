package s3sink

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Hidden returns the offsets of within (sorted spans of one partition of
// topic) that hold no record a read_committed reader (the sink) gets:
// transaction markers and the records of aborted transactions. Nothing
// is ever archived for them, so they are not missing from a bucket.
//
// The partition is read from the first offset of within to until (at
// least past its last span) with read_uncommitted and
// KeepControlRecords, and classified as ReadKafka classifies
// (ledgerBuilder): a transactional record is aborted when its producer's
// next marker aborts, so until must lie past the markers of the
// transactions within ends in. A transaction whose marker is not read
// stays open and is not reported hidden; nor is anything the read did not
// reach within idle: what is unknown stays missing.
func Hidden(ctx context.Context, opts []kgo.Opt, topic string, partition int32, within []Span, until int64, idle time.Duration) ([]Span, error) {
	if len(within) == 0 {
		return nil, nil
	}
	if idle == 0 {
		idle = 10 * time.Second
	}
	rg := [2]int64{within[0].First, max(until, within[len(within)-1].Last+1)}
	b := newLedgerBuilder(rg[0])
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	err = readTopic(ctx, kadm.NewClient(cl), opts, topic, map[int32][2]int64{partition: rg}, idle, func(r *kgo.Record, control, commit bool) {
		b.record(r.Offset, r.ProducerID, r.Attrs.IsTransactional(), control, commit)
	}, nil, "records of "+topic)
	if err != nil {
		return nil, fmt.Errorf("classify offsets of %s partition %d: %w", topic, partition, err)
	}
	l := b.ledger(rg[0], rg[1], nil)
	var out []Span
	for _, s := range within {
		for _, k := range []offsetKind{kindControl, kindAborted} {
			for _, c := range l.clip(s.First, s.Last, k) {
				out = append(out, Span{First: c.first, Last: c.last})
			}
		}
	}
	slices.SortFunc(out, func(a, b Span) int { return cmp.Compare(a.First, b.First) })
	return out, nil
}
