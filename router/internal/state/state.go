// Package state reads and writes the router's state topic (topics.state,
// audit.router.state by default): a compacted topic of small JSON values,
// one key per fact, the last value of a key winning.
//
//	live-start/<connector>/<partition>  LiveStart: the first offset of that
//	                                    partition of the events topic that
//	                                    the router routed with the connector
//	                                    in its table
//	backfill/<connector>/<partition>    Progress: the offsets of that
//	                                    partition that a backfill has sent
//
// Both are written in the Kafka transaction of the work they describe (the
// routing, the backfilled records), so they are exactly as durable as it:
// a reader that reads the topic read_committed sees a live start if and
// only if the routing it describes committed.
package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The kinds of key.
const (
	KindLiveStart = "live-start"
	KindProgress  = "backfill"
)

// LiveStart is where a connector's live routing began in one partition of
// the events topic: every record at Offset or after is routed live, by a
// table that has the connector; none before is.
type LiveStart struct {
	Topic   string    `json:"topic"`
	TopicID string    `json:"topic_id,omitempty"`
	Offset  int64     `json:"offset"`
	At      time.Time `json:"at"`
}

// Progress is what a backfill has sent of one partition.
type Progress struct {
	Topic   string `json:"topic"`
	TopicID string `json:"topic_id,omitempty"`
	Done    Ranges `json:"done"`
}

// Source is the events topic the offsets of a value belong to: its name
// and, when known, its topic ID (a topic deleted and created again under
// the same name has a new one).
type Source struct {
	Topic, ID string
}

// has reports whether a value written for (topic, id) belongs to s.
func (s Source) has(topic, id string) bool {
	return topic == s.Topic && (id == "" || s.ID == "" || id == s.ID)
}

// Key names one fact.
func Key(kind, connector string, partition int32) string {
	return kind + "/" + connector + "/" + strconv.Itoa(int(partition))
}

// ParseKey splits a key made by Key. Connector ids have no '/'.
func ParseKey(k string) (kind, connector string, partition int32, ok bool) {
	parts := strings.Split(k, "/")
	if len(parts) != 3 || parts[1] == "" {
		return "", "", 0, false
	}
	p, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil || p < 0 {
		return "", "", 0, false
	}
	return parts[0], parts[1], int32(p), true
}

// Record is a record of the state topic holding v as JSON.
func Record(topic, key string, v any) (*kgo.Record, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}, nil
}

// Snapshot is the state topic's last value per key.
type Snapshot map[string][]byte

// Values of another events topic than the one asked for are ignored: they
// were left by another pipeline that shares the state topic, or by a topic
// of the same name since deleted (offsets mean nothing without their
// topic).

// LiveStarts returns a connector's live starts in the events topic, by
// partition.
func (s Snapshot) LiveStarts(src Source, connector string) (map[int32]LiveStart, error) {
	return values(s, KindLiveStart, src, connector, func(v LiveStart) bool { return src.has(v.Topic, v.TopicID) })
}

// Progress returns a connector's backfill progress in the events topic, by
// partition.
func (s Snapshot) Progress(src Source, connector string) (map[int32]Progress, error) {
	return values(s, KindProgress, src, connector, func(v Progress) bool { return src.has(v.Topic, v.TopicID) })
}

// Recorded returns, per connector, the partitions of the events topic
// whose live start is recorded. A value that does not decode counts as
// recorded: the router must never write over it.
func (s Snapshot) Recorded(src Source) map[string]map[int32]bool {
	out := map[string]map[int32]bool{}
	for k, b := range s {
		kind, c, p, ok := ParseKey(k)
		if !ok || kind != KindLiveStart {
			continue
		}
		var v LiveStart
		if json.Unmarshal(b, &v) == nil && !src.has(v.Topic, v.TopicID) {
			continue
		}
		if out[c] == nil {
			out[c] = map[int32]bool{}
		}
		out[c][p] = true
	}
	return out
}

func values[T any](s Snapshot, kind string, _ Source, connector string, ours func(T) bool) (map[int32]T, error) {
	out := map[int32]T{}
	for k, b := range s {
		kd, c, p, ok := ParseKey(k)
		if !ok || kd != kind || c != connector {
			continue
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("state %s: %w", k, err)
		}
		if ours(v) {
			out[p] = v
		}
	}
	return out, nil
}

// Read reads the whole state topic, read_committed, up to its end as of
// the call: a transaction that was open then is waited for, so whatever a
// previous owner of a partition recorded before it lost it is seen. The
// topic is small (a few keys per connector and partition), so it is read
// whole. opts reach the cluster (the pipeline's client options).
func Read(ctx context.Context, opts []kgo.Opt, topic string) (Snapshot, error) {
	cl, err := kgo.NewClient(append(opts[:len(opts):len(opts)],
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers tell where the log ends when its last
		// records are markers or were aborted.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("state topic client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	last := map[int32]int64{} // partition -> last offset to read
	consume := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			last[o.Partition] = o.Offset - 1
			consume[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	snap := Snapshot{}
	if len(last) == 0 {
		return snap, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume})
	for len(last) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", topic, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := last[r.Partition]
			if !ok || r.Offset > end {
				return
			}
			if !r.Attrs.IsControl() {
				if r.Value == nil {
					delete(snap, string(r.Key))
				} else {
					snap[string(r.Key)] = r.Value
				}
			}
			if r.Offset == end {
				delete(last, r.Partition)
			}
		})
	}
	return snap, nil
}

// SourceOf returns the events topic's name and ID.
func SourceOf(ctx context.Context, adm *kadm.Client, topic string) (Source, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return Source{}, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok {
		return Source{}, fmt.Errorf("describe topic %s: not found", topic)
	}
	if td.Err != nil {
		return Source{}, fmt.Errorf("describe topic %s: %w", topic, td.Err)
	}
	return Source{Topic: topic, ID: td.ID.String()}, nil
}
