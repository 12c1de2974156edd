package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

// Target is where a dead letter goes back to, or why it cannot.
type Target struct {
	Letter *Letter `json:"letter"`
	Topic  string  `json:"topic,omitempty"`
	// Refused says why the dead letter is not redriven; Skipped that an
	// earlier redrive sent it already.
	Refused string `json:"refused,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// To is where the record went, once redriven.
	To string `json:"to,omitempty"`
}

// Targets decides, for each letter, where it goes back to:
//   - a router-stage dead letter goes back to the events topic, through
//     the router and every connector's filter again;
//   - a sink-stage dead letter (stage sink:<id>) goes back to that
//     connector's topic only: through the router, every other connector
//     that matches would receive a second copy.
//
// A truncated dead letter (cut to fit the dead-letter topic) is refused:
// its value is not the event any more. So is one of an unknown stage or
// connector, and one whose dlq-topic header disagrees with the pipeline.
func Targets(p *config.Pipeline, letters []*Letter) []Target {
	out := make([]Target, 0, len(letters))
	for _, l := range letters {
		t := Target{Letter: l}
		switch {
		case l.Redriven != "":
			t.Skipped = "redriven already, to " + l.Redriven
		case l.Truncated:
			t.Refused = fmt.Sprintf("truncated to fit the dead-letter topic (original %s bytes, sha256 %s): its value is not the whole event; "+
				"publish the original again from its source instead", record.HeaderValue(l.rec.Headers, record.HeaderDLQOriginalBytes),
				record.HeaderValue(l.rec.Headers, record.HeaderDLQOriginalSHA256))
		case l.Stage == "router":
			t.Topic = p.Topics.Events.Name
		case l.Connector() != "":
			if _, ok := p.Connector(l.Connector()); !ok {
				t.Refused = fmt.Sprintf("stage %s: %s has no connector %q", l.Stage, p.Path, l.Connector())
				break
			}
			t.Topic = p.ConnectorTopic(l.Connector())
		default:
			t.Refused = fmt.Sprintf("unknown stage %q: want router or sink:<connector>", l.Stage)
		}
		if t.Topic != "" && l.Source.Topic != "" && l.Source.Topic != t.Topic {
			t.Refused = fmt.Sprintf("read from %s, but stage %s sends it back to %s; refusing to guess", l.Source.Topic, l.Stage, t.Topic)
			t.Topic = ""
		}
		out = append(out, t)
	}
	return out
}

// Redriven builds the record a dead letter goes back as: its key and value,
// its original headers, its dlq-* headers renamed redrive-dlq-* (history),
// and redrive-of and redrive-at (provenance).
func Redriven(l *Letter, topic string, now time.Time) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(l.rec.Headers)+2)
	var renamed []kgo.RecordHeader
	for _, h := range l.rec.Headers {
		if strings.HasPrefix(h.Key, "dlq-") {
			renamed = append(renamed, kgo.RecordHeader{Key: PrefixRenamed + h.Key, Value: h.Value})
			continue
		}
		hs = append(hs, h)
	}
	hs = append(hs, renamed...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderOf, Value: []byte(l.Ref.String())},
		kgo.RecordHeader{Key: HeaderAt, Value: []byte(now.UTC().Format(time.RFC3339))},
	)
	return &kgo.Record{Topic: topic, Key: l.rec.Key, Value: l.rec.Value, Headers: hs}
}

// RedriveOptions configure Redrive.
type RedriveOptions struct {
	Pipeline *config.Pipeline
	// Opts reach the cluster.
	Opts []kgo.Opt
	Now  func() time.Time
}

// TransactionalID is the redrive's transactional id for a dead-letter
// topic. One id per topic fences a concurrent redrive of the same topic:
// the later one aborts the earlier one's open transaction.
func TransactionalID(dlqTopic string) string { return "auditstream-auditctl-redrive-" + dlqTopic }

// Redrive sends the targets that are neither refused nor skipped back, in
// one transaction with their markers. Before it writes, it reads the
// markers again under its own transactional id (which completes or aborts
// any earlier redrive's transaction first), and skips what a concurrent
// or earlier redrive sent meanwhile. It fills in To or Skipped.
func Redrive(ctx context.Context, adm *kadm.Client, o RedriveOptions, targets []Target) error {
	dlqTopic := o.Pipeline.Topics.DLQ.Name
	cl, err := kgo.NewClient(append(slices.Clip(o.Opts),
		kgo.TransactionalID(TransactionalID(dlqTopic)),
		kgo.ProducerBatchMaxBytes(o.Pipeline.RecordBytes()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// Fence: InitProducerID finishes any transaction of an earlier client
	// with our id, so the markers read next are all there are.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("init transactional producer: %w", err)
	}
	var refs []Ref
	for _, t := range targets {
		if t.Topic != "" && t.Refused == "" && t.Skipped == "" {
			refs = append(refs, t.Letter.Ref)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	scan, err := Read(ctx, adm, dlqTopic, Filter{Refs: refs}, ScanOptions{Opts: o.Opts})
	if err != nil {
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	commit := false
	defer func() {
		if !commit {
			actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = cl.AbortBufferedRecords(actx)
			_ = cl.EndTransaction(actx, kgo.TryAbort)
		}
	}()
	now := o.Now()
	type sent struct {
		i   int
		rec *kgo.Record
	}
	var recs []sent
	for i := range targets {
		t := &targets[i]
		if t.Topic == "" || t.Refused != "" || t.Skipped != "" {
			continue
		}
		if to := scan.Markers[t.Letter.Ref]; to != "" {
			t.Skipped = "redriven already, to " + to
			continue
		}
		recs = append(recs, sent{i, Redriven(t.Letter, t.Topic, now)})
	}
	if len(recs) == 0 {
		return nil
	}
	all := make([]*kgo.Record, len(recs))
	for i, s := range recs {
		all[i] = s.rec
	}
	if err := cl.ProduceSync(ctx, all...).FirstErr(); err != nil {
		return fmt.Errorf("produce redriven records: %w", err)
	}
	markers := make([]*kgo.Record, len(recs))
	for i, s := range recs {
		to := fmt.Sprintf("%s/%d/%d", s.rec.Topic, s.rec.Partition, s.rec.Offset)
		targets[s.i].To = to
		markers[i] = &kgo.Record{Topic: dlqTopic, Headers: []kgo.RecordHeader{
			{Key: HeaderMarker, Value: []byte(targets[s.i].Letter.Ref.String())},
			{Key: HeaderMarkerTo, Value: []byte(to)},
			{Key: HeaderAt, Value: []byte(now.UTC().Format(time.RFC3339))},
		}}
	}
	if err := cl.ProduceSync(ctx, markers...).FirstErr(); err != nil {
		return fmt.Errorf("produce redrive markers: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		for _, s := range recs {
			targets[s.i].To = ""
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("commit the redrive (nothing was redriven): %w", err)
	}
	commit = true
	return nil
}

// Marker reports whether a record of the dead-letter topic is a redrive
// marker rather than a dead letter.
func Marker(r *kgo.Record) bool { return record.HeaderValue(r.Headers, HeaderMarker) != "" }
