// Package passthrough is the baseline the router and the sinks are
// measured against: a bare franz-go consume-to-produce loop in a consumer
// group, without transactions, that commits its offsets once, at the end.
// Without a Route it only consumes: the sinks' baseline.
package passthrough

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Route appends to dst the topics a record goes to.
type Route func(r *kgo.Record, dst []string) []string

// To routes every record to one topic.
func To(topic string) Route {
	return func(_ *kgo.Record, dst []string) []string { return append(dst, topic) }
}

// Options configure Drain.
type Options struct {
	Brokers []string
	From    string
	Group   string
	// Route is where each record is copied to; nil copies nothing.
	Route Route
	// FetchMaxBytes and FetchMaxPartitionBytes default to the router's
	// (16 MiB and 4 MiB).
	FetchMaxBytes          int32
	FetchMaxPartitionBytes int32
	Log                    *slog.Logger
}

// Counts are the records a Drain read and wrote.
type Counts struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

// Drain consumes From in Group up to the end offsets it finds when it
// starts, produces a copy of each record to each topic Route gives, waits
// for every copy to be acknowledged, then commits the consumed offsets once.
//
// Its consumer and producer settings are the router's (read_committed, the
// same fetch sizes unless set, lz4, no linger); what it leaves out is the
// transaction and the router's per-record work.
func Drain(ctx context.Context, o Options) (Counts, error) {
	var c Counts
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = 16 << 20
	}
	if o.FetchMaxPartitionBytes == 0 {
		o.FetchMaxPartitionBytes = 4 << 20
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(o.Brokers...),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.From),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(o.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(o.FetchMaxPartitionBytes),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return c, fmt.Errorf("passthrough client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, o.From)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return c, fmt.Errorf("list end offsets of %s: %w", o.From, err)
	}
	left := map[int32]int64{}
	ends.Each(func(l kadm.ListedOffset) {
		if l.Offset > 0 {
			left[l.Partition] = l.Offset
		}
	})

	var failed atomic.Pointer[error]
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	var dst []string
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return c, fmt.Errorf("drain %s: stopped with %d partitions left: %w", o.From, len(left), errors.Join(ctx.Err(), kgo.ErrClientClosed))
		}
		fs.EachError(func(t string, p int32, err error) { o.Log.Warn("fetch", "topic", t, "partition", p, "err", err) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				c.In++
				if o.Route == nil {
					continue
				}
				dst = o.Route(r, dst[:0])
				for _, t := range dst {
					c.Out++
					cl.Produce(ctx, &kgo.Record{Topic: t, Key: r.Key, Value: r.Value, Headers: r.Headers}, done)
				}
			}
			if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 >= left[p.Partition] {
				delete(left, p.Partition)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return c, fmt.Errorf("flush: %w", err)
	}
	if err := failed.Load(); err != nil {
		return c, fmt.Errorf("produce: %w", *err)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return c, fmt.Errorf("commit offsets of %s: %w", o.Group, err)
	}
	return c, nil
}
