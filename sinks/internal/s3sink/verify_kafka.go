package s3sink

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
)

// KafkaView is what Verify needs from Kafka about one connector: every
// offset of its topic's partitions and what it holds, the dead letters of
// the topic, the consumer group's committed offsets and the chain heads.
type KafkaView struct {
	Topic      string
	HeadsTopic string
	Identity   Identity
	Partitions map[int32]*partitionLedger
	Heads      map[int32]Head
}

// KafkaSource says where ReadKafka reads.
type KafkaSource struct {
	// Opts reach the cluster (brokers, TLS, SASL).
	Opts []kgo.Opt
	// Connector is the connector's id, which keys its heads.
	Connector string
	// Topic is the connector topic; DLQ the dead-letter topic; Heads the
	// compacted topic of chain heads; Group the sink's consumer group.
	Topic, DLQ, Heads, Group string
	// Partitions, when set, are the only partitions read.
	Partitions []int32
	// Progress, when set, receives a line now and then.
	Progress io.Writer
	// Idle is how long a read may go without a record before it stops
	// short of the end (default 10 s).
	Idle time.Duration
}

// ReadKafka reads the connector topic from its log start to its end.
//
// The topic is read with read_uncommitted and KeepControlRecords, so that
// every offset comes through: data records, transaction markers, and the
// records of aborted transactions, which a read_committed consumer (the
// sink) never sees and so must be accounted for as aborted, not missing.
// A transactional record is classified when its producer's next marker
// arrives: a commit marker makes it data, an abort marker aborted. A
// transaction still open at the end is past the last stable offset, where
// the sink has not read. Nothing is inferred from a gap: a gap between the
// offsets read (a compacted topic, which a connector topic is not) is
// left unaccounted and so reported.
//
// The DLQ is read whole, read_committed: a dead letter names the record
// it holds by its dlq-topic, dlq-partition and dlq-offset headers. The
// heads topic is read whole, read_committed (the sink writes heads in the
// transaction that commits its offsets); the last head of each key wins.
func ReadKafka(ctx context.Context, src KafkaSource) (*KafkaView, error) {
	if src.Idle == 0 {
		src.Idle = 10 * time.Second
	}
	prog := newProgress(src.Progress)
	cl, err := kgo.NewClient(src.Opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	v := &KafkaView{Topic: src.Topic, HeadsTopic: src.Heads, Partitions: make(map[int32]*partitionLedger), Heads: make(map[int32]Head)}

	meta, err := adm.Metadata(ctx, src.Topic)
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", src.Topic, err)
	}
	td, ok := meta.Topics[src.Topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", src.Topic, cmpErr(td.Err, errors.New("not found")))
	}
	v.Identity = Identity{TopicID: td.ID.String(), ClusterID: meta.Cluster}
	starts, err := adm.ListStartOffsets(ctx, src.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", src.Topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, src.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", src.Topic, err)
	}
	ranges := make(map[int32][2]int64)
	for p := range td.Partitions {
		if len(src.Partitions) > 0 && !slices.Contains(src.Partitions, p) {
			continue
		}
		s, _ := starts.Lookup(src.Topic, p)
		e, _ := ends.Lookup(src.Topic, p)
		ranges[p] = [2]int64{s.Offset, e.Offset}
	}

	// Dead letters of this topic.
	dlq := make(map[int32]map[int64]int)
	dm, err := adm.Metadata(ctx, src.DLQ)
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", src.DLQ, err)
	}
	// A DLQ that does not exist holds no dead letters.
	if t, ok := dm.Topics[src.DLQ]; src.DLQ != "" && ok && t.Err == nil {
		n := 0
		err := readTopic(ctx, adm, src.Opts, src.DLQ, nil, src.Idle, func(r *kgo.Record, _ bool, _ bool) {
			if record.HeaderValue(r.Headers, record.HeaderDLQTopic) != src.Topic {
				return
			}
			p, err1 := strconv.ParseInt(record.HeaderValue(r.Headers, record.HeaderDLQPartition), 10, 32)
			off, err2 := strconv.ParseInt(record.HeaderValue(r.Headers, record.HeaderDLQOffset), 10, 64)
			if err1 != nil || err2 != nil {
				return
			}
			if dlq[int32(p)] == nil {
				dlq[int32(p)] = make(map[int64]int)
			}
			dlq[int32(p)][off]++
			n++
		}, prog, "dead letters")
		if err != nil {
			return nil, err
		}
		prog.say("%d dead letters of %s", n, src.Topic)
	}

	// The connector topic, every offset.
	builders := make(map[int32]*ledgerBuilder)
	for p, r := range ranges {
		builders[p] = newLedgerBuilder(r[0])
	}
	err = readTopic(ctx, adm, src.Opts, src.Topic, ranges, src.Idle, func(r *kgo.Record, control, commit bool) {
		if b := builders[r.Partition]; b != nil {
			b.record(r.Offset, r.ProducerID, r.Attrs.IsTransactional(), control, commit)
		}
	}, prog, "records of "+src.Topic)
	if err != nil {
		return nil, err
	}
	for p, b := range builders {
		v.Partitions[p] = b.ledger(ranges[p][0], ranges[p][1], dlq[p])
	}

	// Where the group stands.
	if src.Group != "" {
		offs, err := adm.FetchOffsets(ctx, src.Group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("fetch committed offsets of %s: %w", src.Group, err)
		}
		for p, l := range v.Partitions {
			if o, ok := offs.Lookup(src.Topic, p); ok && o.At >= 0 {
				l.committed = o.At
			}
		}
	}

	// The heads.
	if src.Heads != "" {
		hm, err := adm.Metadata(ctx, src.Heads)
		if err != nil {
			return nil, fmt.Errorf("read metadata of %s: %w", src.Heads, err)
		}
		if t, ok := hm.Topics[src.Heads]; ok && t.Err == nil {
			at := make(map[int32]int64)
			err := readTopic(ctx, adm, src.Opts, src.Heads, nil, src.Idle, func(r *kgo.Record, _ bool, _ bool) {
				h, err := ParseHead(r.Value)
				if err != nil || h.Connector != src.Connector || string(r.Key) != HeadKey(src.Connector, h.Partition) {
					return
				}
				if h.TopicID != "" && !sameTopicID(h.TopicID, v.Identity.TopicID) {
					return // a head of another generation of the topic (deleted and created again)
				}
				if prev, ok := at[h.Partition]; ok && prev > r.Offset {
					return
				}
				at[h.Partition] = r.Offset
				v.Heads[h.Partition] = h
			}, prog, "heads")
			if err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// readTopic reads partitions of topic from their start to the end each had
// when the read began (ranges; nil: every partition, from its log start)
// with read_uncommitted and KeepControlRecords, and passes each record to
// fn in offset order: every record when ranges is set (the caller
// classifies them), else only committed data records, released when their
// transaction commits (and the markers not at all).
func readTopic(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, topic string, ranges map[int32][2]int64, idle time.Duration,
	fn func(r *kgo.Record, control, commit bool), prog *progress, what string) error {
	all := ranges == nil
	if all {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			return fmt.Errorf("list start offsets of %s: %w", topic, err)
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("list end offsets of %s: %w", topic, err)
		}
		ranges = make(map[int32][2]int64)
		starts.Each(func(o kadm.ListedOffset) {
			e, _ := ends.Lookup(topic, o.Partition)
			ranges[o.Partition] = [2]int64{o.Offset, e.Offset}
		})
	}
	consume := make(map[int32]kgo.Offset)
	left := 0
	for p, r := range ranges {
		if r[1] > r[0] {
			consume[p] = kgo.NewOffset().At(r[0])
			left++
		}
	}
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	done := make(map[int32]bool)
	pending := make(map[int64][]*kgo.Record) // producer ID -> records of its open transaction
	read := 0
	quiet := time.Now()
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("read %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		if fs.NumRecords() == 0 {
			if time.Since(quiet) >= idle {
				return nil // the rest is reported as unread
			}
			continue
		}
		quiet = time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			rg, ok := ranges[r.Partition]
			if !ok || done[r.Partition] || r.Offset >= rg[1] {
				return
			}
			read++
			control := r.Attrs.IsControl()
			commit := control && isCommitMarker(r.Key)
			switch {
			case !all:
				fn(r, control, commit)
			case control:
				if commit {
					for _, pr := range pending[r.ProducerID] {
						fn(pr, false, false)
					}
				}
				delete(pending, r.ProducerID)
			case r.Attrs.IsTransactional():
				pending[r.ProducerID] = append(pending[r.ProducerID], r)
			default:
				fn(r, false, false)
			}
			if r.Offset >= rg[1]-1 {
				done[r.Partition] = true
				left--
			}
		})
		prog.say("read %d %s", read, what)
	}
	return nil
}

// isCommitMarker reports whether a control record's key is a commit
// marker: version (int16), then type (int16): 0 abort, 1 commit.
func isCommitMarker(key []byte) bool {
	return len(key) >= 4 && binary.BigEndian.Uint16(key[2:4]) == 1
}

// sameTopicID compares two topic IDs written in any of the forms in use:
// base64 (franz-go's String), Kafka's URL-safe base64 without padding, or
// hex with or without dashes.
func sameTopicID(a, b string) bool {
	x, okA := topicIDBytes(a)
	y, okB := topicIDBytes(b)
	if okA && okB {
		return x == y
	}
	return a == b
}

func topicIDBytes(s string) ([16]byte, bool) {
	var out [16]byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 16 {
			copy(out[:], b)
			return out, true
		}
	}
	if b, err := hex.DecodeString(strings.ReplaceAll(s, "-", "")); err == nil && len(b) == 16 {
		copy(out[:], b)
		return out, true
	}
	return out, false
}
