// Package replay rewinds one connector's consumer group, so that its sinks
// deliver a range of its topic again.
//
// Only the connector's own group (auditstream-sink-<id>) moves; no topic
// is written and no other connector is touched. The group must be empty
// while its offsets are rewritten: Kafka refuses an offset commit from
// outside a group that has members, and a member would overwrite the new
// offsets with its own at its next commit anyway.
//
// What the sinks do with records they see again depends on the
// destination:
//   - S3: the writer finds the deliveries already archived (by their
//     manifests) and skips them; what the bucket lacks is written again.
//   - Datadog: every record is sent again. Each one already delivered is a
//     duplicate in Datadog; the plan counts them.
package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
)

// From is where a replay starts: the earliest offset still in the topic,
// the first record at or after a time, or given offsets per partition.
type From struct {
	Earliest bool
	Time     time.Time
	Offsets  map[int32]int64
}

// ParseFrom reads "earliest", an RFC 3339 time, or "P:OFFSET,...".
func ParseFrom(s string) (From, error) {
	switch {
	case s == "earliest":
		return From{Earliest: true}, nil
	case s == "":
		return From{}, errors.New("--from is required (earliest, an RFC 3339 time, or PARTITION:OFFSET,...)")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return From{Time: t}, nil
	}
	f := From{Offsets: map[int32]int64{}}
	for _, part := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(part), ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return From{}, fmt.Errorf("--from %q: want earliest, an RFC 3339 time (2026-01-02T15:04:05Z), or PARTITION:OFFSET,... (0:1200,1:900)", s)
		}
		if _, dup := f.Offsets[int32(p)]; dup {
			return From{}, fmt.Errorf("--from %q: partition %d given twice", s, p)
		}
		f.Offsets[int32(p)] = o
	}
	return f, nil
}

func (f From) String() string {
	switch {
	case f.Earliest:
		return "earliest"
	case !f.Time.IsZero():
		return f.Time.UTC().Format(time.RFC3339)
	}
	ps := make([]int32, 0, len(f.Offsets))
	for p := range f.Offsets {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d:%d", p, f.Offsets[p])
	}
	return strings.Join(parts, ",")
}

// Partition is the plan for one partition.
type Partition struct {
	Partition int32 `json:"partition"`
	// Committed is the group's offset now (-1: none, the sinks start at
	// the log start); From is the offset the replay commits; End is the
	// last stable offset.
	Committed int64 `json:"committed"`
	From      int64 `json:"from"`
	End       int64 `json:"end"`
	// Again is the number of records from From to Committed: delivered
	// once already, and delivered again.
	Again int64 `json:"again"`
	// Pending is the number of offsets from Committed to End: not yet
	// delivered, delivered whether or not the replay runs.
	Pending int64 `json:"pending_offsets"`
	// Unchanged says the partition keeps its offset (From is not before
	// Committed).
	Unchanged bool `json:"unchanged,omitempty"`
	// Note explains an adjustment (a start before the log start).
	Note string `json:"note,omitempty"`
	// Missing are the positions of From..Committed that no finished
	// delivery in the bucket covers (S3 connectors, when checked): what
	// the replay writes again. Overlap says archived deliveries follow a
	// missing span inside the range (see Plan.Overlap).
	Missing []s3sink.Span `json:"missing,omitempty"`
	Overlap bool          `json:"overlap,omitempty"`
	// Orphans are deliveries of the range whose manifest remains while
	// objects are gone: the writer skips them, so the replay does not
	// bring those objects back until their manifests are deleted.
	Orphans []s3sink.Orphan `json:"orphans,omitempty"`
}

// Plan is what a replay does.
type Plan struct {
	Connector  string      `json:"connector"`
	Type       string      `json:"type"`
	Group      string      `json:"group"`
	Topic      string      `json:"topic"`
	From       string      `json:"from"`
	Partitions []Partition `json:"partitions"`
	// Again sums the partitions'. Approx says it was counted in offsets
	// (markers included) because the range was over CountBound.
	Again  int64 `json:"again"`
	Approx bool  `json:"approx,omitempty"`
	// Effect says what the destination makes of it.
	Effect string `json:"effect"`
	// Archive says whether the bucket's manifests were read (S3), or why not.
	Archive string `json:"archive,omitempty"`
	// ArchiveErr is why the bucket could not be read, when it could not.
	ArchiveErr error `json:"-"`
	// Overlap says that on some partition, archived deliveries follow
	// positions missing from the bucket inside the replayed range. The S3
	// writer writes a missing delivery again with its own batch
	// boundaries, and does not yet stop at the next archived delivery: a
	// new delivery that runs past it writes that delivery's records a
	// second time, unless the batches fall on the original boundaries.
	Overlap bool `json:"overlap,omitempty"`
	// Orphans counts the partitions' orphaned deliveries.
	Orphans int `json:"orphans,omitempty"`
}

// OrphanWarning explains Plan.Orphans to an operator.
const OrphanWarning = "objects are gone while their deliveries' manifests remain: the S3 writer skips a delivery on its manifest, " +
	"so this replay does not write them again. Delete each such delivery whole (its remaining objects, then its manifest; " +
	"all listed in --json) and plan the replay again: a manifest deleted alone leaves objects that a writer with other batch " +
	"boundaries stops at."

// OverlapWarning explains Plan.Overlap to an operator.
const OverlapWarning = "archived deliveries follow positions missing from the bucket: the S3 writer re-creates a missing delivery " +
	"with its own batch boundaries and does not yet stop at the next archived delivery, so records after a missing span may be " +
	"written twice (a known limit of the S3 writer). Replay from inside the last missing span only, or accept the risk with --allow-overlap."

// Changes reports whether any partition moves.
func (p *Plan) Changes() bool {
	for _, pp := range p.Partitions {
		if !pp.Unchanged {
			return true
		}
	}
	return false
}

// RefusedError is a replay that must not run as asked.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// Archive is the part of s3sink.Writer a plan reads.
type Archive interface {
	Archived(ctx context.Context, partition int32, from, to int64, limit int) ([]s3sink.Span, error)
	Orphans(ctx context.Context, partition int32, from, to int64, limit int) ([]s3sink.Orphan, error)
}

// ManifestBound is the most deliveries per partition a plan reads from
// the bucket.
const ManifestBound = 20_000

// CountBound is the most offsets a plan reads to count the records it
// re-delivers exactly; above it, the count is in offsets.
const CountBound = 5_000_000

// Options configure MakePlan.
type Options struct {
	Pipeline  *config.Pipeline
	Connector *config.Connector
	Admin     *kadm.Client
	Opts      []kgo.Opt
	// Archive, for an S3 connector, reads which positions the bucket
	// holds (s3sink.Writer); nil leaves the bucket unchecked.
	Archive Archive
	// Progress, when set, is told how many records were read to count.
	Progress func(read int64)
	// Hidden, when set, says which offsets of the given spans hold no
	// record a read_committed reader gets (markers, aborted records);
	// nil reads them from the topic (s3sink.Hidden). Used with Archive.
	Hidden func(ctx context.Context, partition int32, within []s3sink.Span, until int64) ([]s3sink.Span, error)
}

// MakePlan works out, per partition, where the group is, where the replay
// puts it and how many records that delivers again. It writes nothing.
// A start after the committed offset of a partition given by offset is
// refused: that would skip records never delivered. A time or earliest
// that lies after a partition's committed offset leaves it unchanged.
func MakePlan(ctx context.Context, o Options, from From) (*Plan, error) {
	p, c := o.Pipeline, o.Connector
	pl := &Plan{Connector: c.ID, Type: string(c.Type), Group: p.ConnectorGroup(c.ID), Topic: p.ConnectorTopic(c.ID), From: from.String()}
	switch c.Type {
	case config.TypeS3:
		pl.Effect = "S3: deliveries already archived (found by their manifests) are skipped; only what the bucket lacks is written again, without duplicates"
	case config.TypeDatadog:
		pl.Effect = "Datadog: every record is sent again; each already delivered becomes a duplicate in Datadog"
	}
	start, end, err := offsets.Ends(ctx, o.Admin, pl.Topic)
	if err != nil {
		return nil, err
	}
	committed, err := offsets.Committed(ctx, o.Admin, pl.Group, pl.Topic)
	if err != nil {
		return nil, err
	}
	target, err := Resolve(ctx, o.Admin, pl.Topic, from, start, end)
	if err != nil {
		return nil, err
	}
	ranges := map[int32]offsets.Range{}
	var span int64
	for part, e := range end {
		pp := Partition{Partition: part, Committed: -1, End: e}
		cur := start[part] // where the sinks start without a commit
		if c, ok := committed[part]; ok && c >= 0 {
			pp.Committed = c
			cur = max(c, start[part])
		}
		t, given := target[part]
		switch {
		case !given:
			t = cur
		case t < start[part]:
			pp.Note = fmt.Sprintf("offset %d is no longer in the topic (retention); the replay starts at the log start %d", t, start[part])
			t = start[part]
		case t > e:
			if from.Offsets != nil {
				return nil, &RefusedError{fmt.Sprintf("partition %d: offset %d is past the end of %s (%d)", part, t, pl.Topic, e)}
			}
			t = e
		}
		if t > cur {
			if from.Offsets != nil {
				return nil, &RefusedError{fmt.Sprintf("partition %d: offset %d is after the committed offset %d: that would skip %d offsets never delivered; replay only rewinds",
					part, t, cur, t-cur)}
			}
			t = cur
		}
		pp.From = t
		pp.Unchanged = t == cur
		pp.Pending = max(e-cur, 0)
		if t < cur {
			ranges[part] = offsets.Range{From: t, To: cur}
			span += cur - t
			pp.Again = cur - t
		}
		pl.Partitions = append(pl.Partitions, pp)
	}
	sort.Slice(pl.Partitions, func(i, j int) bool { return pl.Partitions[i].Partition < pl.Partitions[j].Partition })
	if span > CountBound {
		pl.Approx = true
	} else if len(ranges) > 0 {
		counts, err := offsets.Count(ctx, o.Opts, pl.Topic, ranges, o.Progress)
		if err != nil {
			return nil, err
		}
		for i := range pl.Partitions {
			if n, ok := counts[pl.Partitions[i].Partition]; ok {
				pl.Partitions[i].Again = n
			}
		}
	}
	for _, pp := range pl.Partitions {
		pl.Again += pp.Again
	}
	if o.Archive != nil {
		hidden := o.Hidden
		if hidden == nil {
			hidden = func(ctx context.Context, partition int32, within []s3sink.Span, until int64) ([]s3sink.Span, error) {
				return s3sink.Hidden(ctx, o.Opts, pl.Topic, partition, within, until, hiddenIdle)
			}
		}
		if err := checkArchive(ctx, o.Archive, hidden, pl); err != nil {
			pl.Archive = "not checked: " + err.Error()
			pl.ArchiveErr = err
		}
	} else if c.Type == config.TypeS3 {
		pl.Archive = "not checked"
	}
	return pl, nil
}

// hiddenIdle is how long reading the offsets missing from the bucket may
// go without a record before it stops short (what is unread stays missing).
const hiddenIdle = 5 * time.Second

// hiddenSlack is how far past the replayed range the offsets missing from
// the bucket are read, to find the markers of their transactions.
const hiddenSlack = 1000

// checkArchive fills in what the bucket lacks of each rewound range.
//
// An offset that holds no record a read_committed reader gets, a
// transaction marker or a record of an aborted transaction, is in no
// delivery, and is not missing either: hidden says which of the offsets
// outside the archived spans those are, and they are taken out.
//
// The markers of the transactions a missing span ends in lie after it,
// usually before the committed offset, else just after it (a
// read_committed reader's position can stop short of a marker): the read
// goes on to hiddenSlack offsets past the committed offset, and no
// further than the last stable offset.
func checkArchive(ctx context.Context, a Archive, hidden func(context.Context, int32, []s3sink.Span, int64) ([]s3sink.Span, error), pl *Plan) error {
	pl.Archive = "checked: the manifests of the replayed ranges were read, and their objects looked up"
	for i := range pl.Partitions {
		pp := &pl.Partitions[i]
		if pp.Unchanged {
			continue
		}
		to := max(pp.Committed, pp.From)
		spans, err := a.Archived(ctx, pp.Partition, pp.From, to, ManifestBound)
		if err != nil {
			return err
		}
		pp.Missing, pp.Overlap = missing(pp.From, to, spans)
		if len(pp.Missing) > 0 {
			h, err := hidden(ctx, pp.Partition, pp.Missing, min(to+hiddenSlack, max(pp.End, to)))
			if err != nil {
				return err
			}
			pp.Missing = trim(pp.Missing, h)
			// Overlap is about archived deliveries only: a marker or
			// aborted record after a missing span is never written.
			pp.Overlap = follows(spans, pp.Missing, to)
		}
		pl.Overlap = pl.Overlap || pp.Overlap
		if pp.Orphans, err = a.Orphans(ctx, pp.Partition, pp.From, to, ManifestBound); err != nil {
			return err
		}
		pl.Orphans += len(pp.Orphans)
	}
	return nil
}

// missing returns the positions of from..to-1 outside spans (sorted,
// merged), and whether a span follows a missing one.
func missing(from, to int64, spans []s3sink.Span) (out []s3sink.Span, overlap bool) {
	at := from
	for _, s := range spans {
		if s.First > at {
			out = append(out, s3sink.Span{First: at, Last: min(s.First, to) - 1})
			overlap = overlap || s.First < to
		}
		at = max(at, s.Last+1)
	}
	if at < to {
		out = append(out, s3sink.Span{First: at, Last: to - 1})
	}
	return out, overlap
}

// trim narrows each gap to its first and last offsets that are not
// hidden, and drops a gap that is hidden whole. A marker inside a gap
// stays in it: the writer re-creates the stretch as one delivery.
func trim(gaps, hidden []s3sink.Span) []s3sink.Span {
	var out []s3sink.Span
	for _, g := range gaps {
		var in []s3sink.Span // the hidden spans that touch g
		for _, h := range hidden {
			if h.Last >= g.First && h.First <= g.Last {
				in = append(in, h)
			}
		}
		if left, _ := missing(g.First, g.Last+1, in); len(left) > 0 {
			out = append(out, s3sink.Span{First: left[0].First, Last: left[len(left)-1].Last})
		}
	}
	return out
}

// follows reports whether an archived span begins, before to, after a
// missing one.
func follows(archived, missing []s3sink.Span, to int64) bool {
	if len(missing) == 0 {
		return false
	}
	for _, s := range archived {
		if s.First > missing[0].Last && s.First < to {
			return true
		}
	}
	return false
}

// Resolve turns f into an offset per partition of topic, whose first and
// last stable offsets are start and end: earliest is start, a time the
// first offset at or after it (end when none is), offsets themselves
// (only the partitions given; a partition the topic lacks is refused).
func Resolve(ctx context.Context, adm *kadm.Client, topic string, f From, start, end map[int32]int64) (map[int32]int64, error) {
	switch {
	case f.Earliest:
		return start, nil
	case !f.Time.IsZero():
		after, err := adm.ListOffsetsAfterMilli(ctx, f.Time.UnixMilli(), topic)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s after %s: %w", topic, f, err)
		}
		out := map[int32]int64{}
		after.Each(func(l kadm.ListedOffset) { out[l.Partition] = min(l.Offset, end[l.Partition]) })
		return out, nil
	}
	for part := range f.Offsets {
		if _, ok := end[part]; !ok {
			return nil, &RefusedError{fmt.Sprintf("%s has no partition %d (it has %d)", topic, part, len(end))}
		}
	}
	return f.Offsets, nil
}

// Members returns the group's state and its number of members.
func Members(ctx context.Context, adm *kadm.Client, group string) (state string, n int, err error) {
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	d, ok := ds[group]
	if !ok {
		return "Dead", 0, nil
	}
	if d.Err != nil {
		return "", 0, fmt.Errorf("describe group %s: %w", group, d.Err)
	}
	return d.State, len(d.Members), nil
}

// WaitEmpty polls until the group has no members, telling waiting each
// time it still has some.
func WaitEmpty(ctx context.Context, adm *kadm.Client, group string, every time.Duration, waiting func(state string, members int)) error {
	for {
		state, n, err := Members(ctx, adm, group)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		waiting(state, n)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// Apply commits the plan's offsets for the group. Kafka refuses it while
// the group has members.
func Apply(ctx context.Context, adm *kadm.Client, pl *Plan) error {
	os := kadm.Offsets{}
	for _, pp := range pl.Partitions {
		if !pp.Unchanged {
			os.AddOffset(pl.Topic, pp.Partition, pp.From, -1)
		}
	}
	if len(os) == 0 {
		return nil
	}
	resp, err := adm.CommitOffsets(ctx, pl.Group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", pl.Group, err)
	}
	return nil
}

// Follow reports the group's lag every interval until it is 0 or ctx ends.
func Follow(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, group, topic string, every time.Duration, report func(lag int64, approx bool)) error {
	for {
		ps, err := offsets.Lag(ctx, adm, opts, group, topic, offsets.DefaultCountBound)
		if err != nil {
			return err
		}
		lag, approx := offsets.Total(ps)
		report(lag, approx)
		if lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
