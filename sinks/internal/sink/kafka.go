package sink

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/proto/record"
)

// kafkaLog is what a worker does with Kafka besides reading its records:
// learn where the group committed, commit, dead-letter, and read rejected
// records again. Each call is one attempt; the worker retries.
type kafkaLog struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	group string
	dlq   string
	stage string // the dlq-stage header
	// recordBytes is the largest record the client may produce: a dead
	// letter is cut to fit (record.DeadLetter).
	recordBytes int
	// rereadOpts make the client that reads rejected records again.
	rereadOpts []kgo.Opt
}

// committed returns the group's committed offset of a partition, if any.
func (k *kafkaLog) committed(ctx context.Context, partition int32) (int64, bool, error) {
	resp, err := k.adm.FetchOffsets(ctx, k.group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return 0, false, fmt.Errorf("fetch committed offsets of %s: %w", k.group, err)
	}
	o, ok := resp.Lookup(k.topic, partition)
	return o.At, ok && o.At >= 0, nil
}

// logStart returns a partition's log start offset: the first offset
// retention (or DeleteRecords) has left.
func (k *kafkaLog) logStart(ctx context.Context, partition int32) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := k.adm.ListStartOffsets(ctx, k.topic)
	if err != nil {
		return 0, fmt.Errorf("list start offsets of %s: %w", k.topic, err)
	}
	o, ok := starts.Lookup(k.topic, partition)
	if !ok {
		return 0, fmt.Errorf("no start offset for %s partition %d", k.topic, partition)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("start offset of %s partition %d: %w", k.topic, partition, o.Err)
	}
	return o.Offset, nil
}

// commit commits a partition's offset synchronously, so that a revoke
// cannot cancel it.
func (k *kafkaLog) commit(ctx context.Context, partition int32, offset int64, epoch int32) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cerr error
	offsets := map[string]map[int32]kgo.EpochOffset{k.topic: {partition: {Epoch: epoch, Offset: offset}}}
	k.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			err = commitError(resp)
		}
		cerr = err
	})
	if cerr != nil {
		return fmt.Errorf("commit offset %d: %w", offset, cerr)
	}
	return nil
}

// deadLetter produces rec to the dead-letter topic with its reason.
func (k *kafkaLog) deadLetter(ctx context.Context, rec *kgo.Record, reason string, cause error) error {
	d := record.DeadLetter(rec, k.dlq, k.stage, reason, cause, k.recordBytes)
	if err := k.cl.ProduceSync(ctx, d).FirstErr(); err != nil {
		return fmt.Errorf("produce dead letter of offset %d to %s: %w", rec.Offset, k.dlq, err)
	}
	return nil
}

// commitError returns the first partition error of a commit response.
func commitError(resp *kmsg.OffsetCommitResponse) error {
	if resp == nil {
		return nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

// rereadTimeout bounds the search for records that may be gone.
const rereadTimeout = 30 * time.Second

// reread reads the records at offsets (ascending) of one partition again,
// with a client of its own, outside the group. A record that is no longer
// in Kafka (deleted by retention: the read then begins past it) is missing
// from the result.
func (k *kafkaLog) reread(ctx context.Context, partition int32, offsets []int64) (map[int64]*kgo.Record, error) {
	opts := append(slices.Clip(k.rereadOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{k.topic: {partition: kgo.NewOffset().At(offsets[0])}}),
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
