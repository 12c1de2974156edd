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
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
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
	at := map[int32]kgo.Offset{}
	for p, r := range ranges {
		if r.To > r.From {
			at[p] = kgo.NewOffset().At(r.From)
		}
	}
	if len(at) == 0 {
		return res, nil
	}
	cl, err := kgo.NewClient(append(slices.Clip(o.Opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // the end of a range may be a marker
		kgo.FetchMaxWait(200*time.Millisecond),
	)...)
	if err != nil {
		return res, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	maxEvents := o.Connector.Batch.MaxEvents
	if maxEvents <= 0 || maxEvents > config.DatadogMaxEntries {
		maxEvents = config.DatadogMaxEntries
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
	left := len(at)
	var done int64
	last := time.Now()
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return res, ferr
		}
		var ended []int32
		n := 0
		fs.EachRecord(func(rec *kgo.Record) {
			rg, ok := ranges[rec.Partition]
			if !ok || rec.Offset >= rg.To {
				if ok {
					ended = append(ended, rec.Partition)
				}
				return
			}
			n++
			if rec.Offset >= rg.To-1 {
				ended = append(ended, rec.Partition)
			}
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
		})
		for p, b := range pending {
			if b.Len() >= maxEvents {
				if err := flush(p); err != nil {
					return res, err
				}
			}
		}
		sort.Slice(ended, func(i, j int) bool { return ended[i] < ended[j] })
		for _, p := range slices.Compact(ended) {
			if _, ok := ranges[p]; !ok {
				continue
			}
			if err := flush(p); err != nil {
				return res, err
			}
			delete(ranges, p)
			cl.PauseFetchPartitions(map[string][]int32{topic: {p}})
			left--
		}
		if n > 0 {
			last = time.Now()
			if o.Progress != nil {
				o.Progress(done, total)
			}
		} else if time.Since(last) > 30*time.Second {
			return res, fmt.Errorf("read %s: no progress for 30s (is a transaction open?)", topic)
		}
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
