// Package floor is the cost of archiving records at all: a minimal
// consumer that only consumes, gzips the raw values and PUTs them to S3,
// batched per partition like the S3 sink, committing after each PUT. The S3
// sink's CPU per event is reported as a multiple of the floor's.
package floor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Level is the gzip level: the S3 sink's (sinks/internal/s3sink/encode.go),
// with the same library.
const Level = 6

// Options configure Drain.
type Options struct {
	Brokers []string
	From    string
	Group   string
	S3      *s3.Client
	Bucket  string
	Prefix  string
	// Batch is how many records of a partition go into one object.
	Batch                  int
	FetchMaxBytes          int32
	FetchMaxPartitionBytes int32
	Log                    *slog.Logger
}

// Counts are what a Drain read and wrote.
type Counts struct {
	In      int64 `json:"in"`
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// Drain consumes From in Group up to the end offsets it finds when it
// starts. It collects each partition's values; at Batch values (or at the
// partition's end) it writes them, one per line, gzipped, as one object,
// then commits the partition's offset.
func Drain(ctx context.Context, o Options) (Counts, error) {
	var c Counts
	if o.Batch <= 0 {
		return c, fmt.Errorf("batch %d: want > 0", o.Batch)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(o.Brokers...),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.From),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(o.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(o.FetchMaxPartitionBytes),
	)
	if err != nil {
		return c, fmt.Errorf("floor client: %w", err)
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
	w := &writer{o: o, cl: cl, parts: map[int32]*part{}}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return c, fmt.Errorf("drain %s: stopped with %d partitions left: %w", o.From, len(left), errors.Join(ctx.Err(), kgo.ErrClientClosed))
		}
		fs.EachError(func(t string, p int32, err error) { o.Log.Warn("fetch", "topic", t, "partition", p, "err", err) })
		var failed error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				c.In++
				if err := w.add(ctx, r); err != nil && failed == nil {
					failed = err
				}
			}
			if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 >= left[p.Partition] {
				delete(left, p.Partition)
				if err := w.flush(ctx, p.Partition); err != nil && failed == nil {
					failed = err
				}
			}
		})
		if failed != nil {
			return c, failed
		}
	}
	c.Objects, c.Bytes = w.objects, w.bytes
	return c, nil
}

// part is one partition's pending batch.
type part struct {
	values [][]byte
	last   *kgo.Record
}

type writer struct {
	o       Options
	cl      *kgo.Client
	parts   map[int32]*part
	buf     bytes.Buffer
	zw      *gzip.Writer
	objects int64
	bytes   int64
}

// add queues r's value, writing its partition's batch once full.
func (w *writer) add(ctx context.Context, r *kgo.Record) error {
	p := w.parts[r.Partition]
	if p == nil {
		p = &part{}
		w.parts[r.Partition] = p
	}
	p.values = append(p.values, r.Value)
	p.last = r
	if len(p.values) >= w.o.Batch {
		return w.flush(ctx, r.Partition)
	}
	return nil
}

// flush gzips a partition's pending values into one object, PUTs it, and
// commits the offset after its last record.
func (w *writer) flush(ctx context.Context, partition int32) error {
	p := w.parts[partition]
	if p == nil || len(p.values) == 0 {
		return nil
	}
	w.buf.Reset()
	if w.zw == nil {
		var err error
		if w.zw, err = gzip.NewWriterLevel(&w.buf, Level); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	} else {
		w.zw.Reset(&w.buf)
	}
	for _, v := range p.values {
		_, _ = w.zw.Write(v)
		_, _ = w.zw.Write([]byte{'\n'})
	}
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	first := p.last.Offset - int64(len(p.values)) + 1
	key := fmt.Sprintf("%s/%d/%020d.gz", w.o.Prefix, partition, first)
	if _, err := w.o.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(w.o.Bucket), Key: aws.String(key), Body: bytes.NewReader(w.buf.Bytes()),
		ContentLength: aws.Int64(int64(w.buf.Len())),
	}); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	w.objects++
	w.bytes += int64(w.buf.Len())
	if err := w.cl.CommitRecords(ctx, p.last); err != nil {
		return fmt.Errorf("commit %s/%d at %d: %w", p.last.Topic, partition, p.last.Offset+1, err)
	}
	p.values, p.last = p.values[:0], nil
	return nil
}
