package sink

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// deadLetter sends a record to the dead-letter topic, retrying until Kafka
// takes it: a record is never dropped, and its offset is not committed
// before it is in the DLQ. It reports false only when the worker stopped
// first.
func (w *worker) deadLetter(ctx context.Context, rec *kgo.Record, reason string, cause error) bool {
	err := w.retry.do(ctx, "dead-letter produce", func(ctx context.Context) error {
		return w.kafka.deadLetter(ctx, rec, reason, cause)
	}, "offset", rec.Offset, "reason", reason)
	if err != nil {
		return false
	}
	w.m.dlq.WithLabelValues(reason).Inc()
	return true
}

// deadLetterRejected dead-letters the events a writer rejected, as the
// records they were read from. Batches do not keep those records (a record
// pins the whole fetched batch it was decompressed into, which doubled the
// sink's memory), and writers reject rarely, so the records are read again.
// A record no longer in Kafka (past retention) is dead-lettered as its
// decoded, redacted event, or its value when it was not decoded. It reports false only when the worker stopped.
func (w *worker) deadLetterRejected(ctx context.Context, b *batch.Batch, rejected []Rejected) bool {
	offsets := make([]int64, 0, len(rejected))
	for _, rej := range rejected {
		offsets = append(offsets, rej.Offset)
	}
	slices.Sort(offsets)
	var recs map[int64]*kgo.Record
	err := w.retry.do(ctx, "read rejected records again", func(ctx context.Context) (err error) {
		recs, err = w.kafka.reread(ctx, w.partition, offsets)
		return err
	}, "offsets", len(offsets))
	if err != nil {
		return false
	}
	for _, rej := range rejected {
		rec, cause := recs[rej.Offset], rej.Err
		if rec == nil {
			it, found := b.Item(rej.Offset)
			if !found {
				continue // not this batch's: nothing to dead-letter
			}
			var err error
			switch {
			case it.Event == nil: // not decoded: the value as it was read
				rec = &kgo.Record{Value: it.Value}
			default:
				if rec, err = record.Marshal(it.Event, record.Protobuf); err != nil {
					rec = &kgo.Record{}
				}
			}
			rec.Topic, rec.Partition, rec.Offset = w.topic, w.partition, rej.Offset
			cause = fmt.Errorf("%w (the record is no longer in Kafka; this is its event as delivered)", rej.Err)
		}
		if !w.deadLetter(ctx, rec, rej.Reason, cause) {
			return false
		}
	}
	return true
}
