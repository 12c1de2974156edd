// Package dlq reads the dead-letter topic (list, show, counts by reason)
// and sends chosen dead letters back where they came from (redrive),
// exactly once.
//
// A redrive is one Kafka transaction that writes, for each dead letter, the
// record again to its source topic and a marker to the dead-letter topic
// itself (header redrive-marker, no value), naming the dead letter. The
// marker is the ledger: a later redrive that meets it skips the dead
// letter. Both records commit or neither does, so a dead letter is
// redriven at most once, and an interrupted redrive can run again.
package dlq

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
)

// Header names a redrive writes.
const (
	// HeaderMarker is on a marker in the dead-letter topic: the Ref of
	// the dead letter it redrove.
	HeaderMarker = "redrive-marker"
	// HeaderMarkerTo is on a marker: where the record went (topic/partition/offset).
	HeaderMarkerTo = "redrive-to"
	// HeaderOf is on a redriven record: the Ref of its dead letter.
	HeaderOf = "redrive-of"
	// HeaderAt is on a redriven record: when it was redriven (RFC 3339).
	HeaderAt = "redrive-at"
	// PrefixRenamed is put in front of the dead letter's dlq-* headers on
	// a redriven record (redrive-dlq-reason, ...): they stay as history,
	// and a record that fails again gets fresh dlq-* headers beside them.
	PrefixRenamed = "redrive-"
)

// Ref names one record: topic/partition/offset.
type Ref struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (r Ref) String() string { return fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset) }

// ParseRef reads topic/partition/offset. The topic may hold no '/'.
func ParseRef(s string) (Ref, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Ref{}, fmt.Errorf("%q is not topic/partition/offset", s)
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return Ref{}, fmt.Errorf("%q is not topic/partition/offset", s)
	}
	return Ref{Topic: parts[0], Partition: int32(p), Offset: o}, nil
}

// Header is a record header, its value as text.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Preview is what a dead letter's value decodes to, in short.
type Preview struct {
	ID       string    `json:"id,omitempty"`
	Project  string    `json:"project,omitempty"`
	Action   string    `json:"action,omitempty"`
	Tenants  []string  `json:"tenants,omitempty"`
	Occurred time.Time `json:"occurred,omitzero"`
	// Error says why the value did not decode (it often did not: that is
	// why many records are dead letters).
	Error string `json:"error,omitempty"`
}

// Letter is one dead letter.
type Letter struct {
	Ref
	Time      time.Time `json:"time"`
	Stage     string    `json:"stage"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	Source    Ref       `json:"source"`
	Truncated bool      `json:"truncated,omitempty"`
	// Redriven is where a redrive sent the record, when one did.
	Redriven string   `json:"redriven,omitempty"`
	Key      string   `json:"key,omitempty"`
	Bytes    int      `json:"bytes"`
	Headers  []Header `json:"headers,omitempty"`
	Preview  Preview  `json:"preview"`

	rec *kgo.Record
}

// Connector is the connector id of a sink-stage dead letter, or "".
func (l *Letter) Connector() string {
	id, ok := strings.CutPrefix(l.Stage, "sink:")
	if !ok {
		return ""
	}
	return id
}

// Filter chooses dead letters. Zero fields choose everything.
type Filter struct {
	Reason    string
	Stage     string // "router", "sink" (any sink), or "sink:<id>"
	Connector string
	Since     time.Time
	Until     time.Time
	// Refs, when set, chooses these dead letters only.
	Refs []Ref
}

// Match reports whether the filter chooses l.
func (f Filter) Match(l *Letter) bool {
	switch {
	case f.Reason != "" && l.Reason != f.Reason:
		return false
	case f.Stage == "sink" && !strings.HasPrefix(l.Stage, "sink:"):
		return false
	case f.Stage != "" && f.Stage != "sink" && l.Stage != f.Stage:
		return false
	case f.Connector != "" && l.Connector() != f.Connector:
		return false
	case !f.Since.IsZero() && l.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !l.Time.Before(f.Until):
		return false
	}
	if len(f.Refs) > 0 {
		return slices.Contains(f.Refs, l.Ref)
	}
	return true
}

// ScanOptions bound a scan.
type ScanOptions struct {
	// Opts reach the cluster (config.Kafka.ClientOpts).
	Opts []kgo.Opt
	// Last, when > 0, reads only the last Last offsets of each partition.
	Last int64
	// Since, when set, starts each partition at the first record at or
	// after it (markers always come after what they mark, so none is
	// missed).
	Since time.Time
	// Progress, when set, is called with the records read so far.
	Progress func(read int64)
}

// Scan is what a scan of the dead-letter topic found.
type Scan struct {
	Letters []*Letter `json:"letters"`
	// Markers maps each redriven dead letter to where it went.
	Markers map[Ref]string `json:"-"`
	// Read is how many records were read; Bounded says the scan read
	// only the end of some partition (ScanOptions.Last).
	Read    int64 `json:"read"`
	Bounded bool  `json:"bounded,omitempty"`
}

// Read reads the dead-letter topic through its last stable offset with
// read_committed isolation, and returns the dead letters f chooses, marked
// with their redrives.
func Read(ctx context.Context, adm *kadm.Client, topic string, f Filter, o ScanOptions) (*Scan, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	from := map[int32]int64{}
	starts.Each(func(l kadm.ListedOffset) { from[l.Partition] = l.Offset })
	if !o.Since.IsZero() {
		after, err := adm.ListOffsetsAfterMilli(ctx, o.Since.UnixMilli(), topic)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s after %s: %w", topic, o.Since.Format(time.RFC3339), err)
		}
		after.Each(func(l kadm.ListedOffset) { from[l.Partition] = max(from[l.Partition], l.Offset) })
	}
	s := &Scan{Markers: map[Ref]string{}}
	ranges := map[int32]offsets.Range{}
	ends.Each(func(l kadm.ListedOffset) {
		f := from[l.Partition]
		if o.Last > 0 && l.Offset-f > o.Last {
			f = l.Offset - o.Last
			s.Bounded = true
		}
		if l.Offset > f {
			ranges[l.Partition] = offsets.Range{From: f, To: l.Offset}
		}
	})
	err = offsets.ReadRanges(ctx, o.Opts, topic, ranges, offsets.Reader{
		Record: func(r *kgo.Record) {
			if r.Attrs.IsControl() {
				return
			}
			if m := record.HeaderValue(r.Headers, HeaderMarker); m != "" {
				if ref, err := ParseRef(m); err == nil {
					s.Markers[ref] = record.HeaderValue(r.Headers, HeaderMarkerTo)
				}
				return
			}
			l := letterOf(r)
			if f.Match(l) {
				s.Letters = append(s.Letters, l)
			}
		},
		Progress: func(read int64) {
			s.Read = read
			if o.Progress != nil {
				o.Progress(s.Read)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	for _, l := range s.Letters {
		l.Redriven = s.Markers[l.Ref]
	}
	sort.Slice(s.Letters, func(i, j int) bool {
		a, b := s.Letters[i], s.Letters[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	return s, nil
}

// letterOf reads a dead letter's headers and previews its value.
func letterOf(r *kgo.Record) *Letter {
	h := func(k string) string { return record.HeaderValue(r.Headers, k) }
	l := &Letter{
		Ref:       Ref{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		Time:      r.Timestamp.UTC(),
		Stage:     h(record.HeaderDLQStage),
		Reason:    h(record.HeaderDLQReason),
		Error:     h(record.HeaderDLQError),
		Truncated: h(record.HeaderDLQTruncated) == "true",
		Key:       string(r.Key),
		Bytes:     len(r.Value),
		rec:       r,
	}
	l.Source.Topic = h(record.HeaderDLQTopic)
	if p, err := strconv.ParseInt(h(record.HeaderDLQPartition), 10, 32); err == nil {
		l.Source.Partition = int32(p)
	}
	if o, err := strconv.ParseInt(h(record.HeaderDLQOffset), 10, 64); err == nil {
		l.Source.Offset = o
	}
	for _, hd := range r.Headers {
		l.Headers = append(l.Headers, Header{Key: hd.Key, Value: string(hd.Value)})
	}
	ev, err := record.Decode(r)
	if err != nil {
		l.Preview.Error = err.Error()
		return l
	}
	l.Preview = Preview{ID: ev.GetId(), Project: ev.GetProjectId(), Action: ev.GetAction(), Tenants: ev.GetTenants()}
	if ev.GetOccurred() != nil {
		l.Preview.Occurred = ev.GetOccurred().AsTime().UTC()
	}
	return l
}

// Counts is the number of dead letters per stage and reason.
type Counts map[string]map[string]int64

// Count tallies letters by stage and reason.
func Count(letters []*Letter) Counts {
	c := Counts{}
	for _, l := range letters {
		if c[l.Stage] == nil {
			c[l.Stage] = map[string]int64{}
		}
		c[l.Stage][l.Reason]++
	}
	return c
}
