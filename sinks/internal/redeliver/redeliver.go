// Package redeliver sends a bounded range of a Datadog connector's topic to
// its destination once more, beside live delivery: the connector's group
// is not touched, its sinks go on, and the range is read by a consumer of
// its own that stops at the range's end (auditctl replay --to).
//
// Each record is decoded, validated, re-checked against the connector's
// filter and redacted as the sink does; a record the sink would have
// dead-lettered is counted and skipped here (it is in the dead-letter
// topic already), and so is an event the destination rejects for good.
//
// Only Datadog: Datadog takes duplicates, and that is what a bounded
// re-delivery is. An S3 re-delivery beside the live writer would meet the
// live deliveries with other batch boundaries (see the s3sink limits in
// auditctl replay); S3 gets what it lacks with a rewind instead.
package redeliver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
	"github.com/auditstream/auditstream/sinks/internal/redact"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// Writer is the destination (ddsink.Writer).
type Writer interface {
	Write(ctx context.Context, b *batch.Batch) (sink.Result, error)
}

// Options configure Run.
type Options struct {
	Pipeline  *config.Pipeline
	Connector *config.Connector
	// Opts reach the cluster.
	Opts   []kgo.Opt
	Writer Writer
	// Progress, when set, is told how many records of total were handled.
	Progress func(done, total int64)
	// Retry is told of a failed write before it is retried.
	Retry func(err error, wait time.Duration)
}

// Result counts what happened to the range's records.
type Result struct {
	Sent     int64 `json:"sent"`
	Invalid  int64 `json:"invalid"`  // not decodable or not valid: in the dead-letter topic already
	Filtered int64 `json:"filtered"` // not the connector's (filter_mismatch)
	Rejected int64 `json:"rejected"` // refused for good by the destination
}

// maxBackoff caps the wait between retries of a failed write.
const maxBackoff = 30 * time.Second

// Run reads ranges (up to the last stable offset) and delivers them. It
// empties ranges as partitions finish.
func Run(ctx context.Context, o Options, ranges map[int32]offsets.Range, total int64) (Result, error) {
	var res Result
	rule, err := filter.New(o.Connector.Filter)
	if err != nil {
		return res, err
	}
	rules, err := redact.New(o.Connector.Redact)
	if err != nil {
		return res, err
	}
	topic := o.Pipeline.ConnectorTopic(o.Connector.ID)
	maxEvents := o.Connector.Batch.MaxEvents
	if maxEvents <= 0 || maxEvents > ddsink.MaxEntries {
		maxEvents = ddsink.MaxEntries
	}
	pending := map[int32]*batch.Batch{}
	flush := func(p int32) error {
		b := pending[p]
		if b == nil || b.Len() == 0 {
			return nil
		}
		delete(pending, p)
		r, err := write(ctx, o, b)
		if err != nil {
			return err
		}
		res.Sent += int64(b.Len() - len(r.Rejected))
		res.Rejected += int64(len(r.Rejected))
		return nil
	}
	var done int64
	err = offsets.ReadRanges(ctx, o.Opts, topic, ranges, offsets.Reader{
		Record: func(rec *kgo.Record) {
			if rec.Attrs.IsControl() {
				return
			}
			done++
			ev, err := record.Decode(rec)
			if err == nil {
				err = record.Validate(ev)
			}
			switch {
			case err != nil:
				res.Invalid++
				return
			case !rule.Match(record.MetaOf(ev)):
				res.Filtered++
				return
			}
			rules.Apply(ev)
			b := pending[rec.Partition]
			if b == nil {
				b = &batch.Batch{Topic: topic, Partition: rec.Partition, Start: rec.Offset}
				pending[rec.Partition] = b
			}
			b.Items = append(b.Items, batch.Item{Offset: rec.Offset, LeaderEpoch: rec.LeaderEpoch, Event: ev, Size: len(rec.Value)})
			b.Bytes += len(rec.Value)
		},
		Polled: func(ended []int32) error {
			for p, b := range pending {
				if b.Len() >= maxEvents {
					if err := flush(p); err != nil {
						return err
					}
				}
			}
			for _, p := range ended {
				if err := flush(p); err != nil {
					return err
				}
				delete(ranges, p)
			}
			return nil
		},
		Progress: func(int64) {
			if o.Progress != nil {
				o.Progress(done, total)
			}
		},
	})
	if err != nil {
		return res, err
	}
	return res, nil
}

// write delivers b, retrying failures with backoff until ctx ends.
func write(ctx context.Context, o Options, b *batch.Batch) (sink.Result, error) {
	wait := time.Second
	for {
		r, err := o.Writer.Write(ctx, b)
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		w := wait
		var ra *sink.RetryAfterError
		if errors.As(err, &ra) && ra.Wait > w {
			w = ra.Wait
		}
		if o.Retry != nil {
			o.Retry(err, w)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(w):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// Ranges resolves a replay's --from and --to into offset ranges of topic,
// each ending at most at the last stable offset. A partition that --to
// given by offsets leaves out is not re-delivered.
func Ranges(ctx context.Context, adm *kadm.Client, topic string, from, to map[int32]int64) (map[int32]offsets.Range, error) {
	_, end, err := offsets.Ends(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]offsets.Range{}
	for p, f := range from {
		e, ok := end[p]
		if !ok {
			return nil, fmt.Errorf("%s has no partition %d", topic, p)
		}
		t, ok := to[p]
		if !ok {
			continue
		}
		t = min(t, e)
		if t > f {
			out[p] = offsets.Range{From: f, To: t}
		}
	}
	return out, nil
}
