package s3sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
)

// HeadStore keeps each partition's Head outside the bucket. The Writer
// records a head after a delivery and before Write returns, so that the
// runtime never commits an offset beyond the recorded head.
type HeadStore interface {
	// Load returns the partition's current head, if one was recorded.
	Load(ctx context.Context, connector string, partition int32) (Head, bool, error)
	// Record stores h durably (acknowledged by every in-sync replica).
	Record(ctx context.Context, h Head) error
}

// KafkaHeads is a HeadStore in a compacted Kafka topic (topics.heads), one
// record per connector and partition, keyed by HeadKey. The bucket's
// credentials cannot write it; the sink's Kafka credentials can.
type KafkaHeads struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	// spec is how a sink that starts before `router setup` creates the
	// topic: the pipeline file's topics.heads.
	spec config.Topic
	// base makes the short-lived clients that read a head back.
	base []kgo.Opt
}

// headsTimeout bounds one record or one read of the heads topic.
const headsTimeout = 30 * time.Second

// NewKafkaHeads returns a HeadStore in the topic t (topics.heads). base are the pipeline's
// client options (brokers, TLS, SASL). The producer is idempotent with
// acks=all (franz-go's defaults, stated here since the guarantee rests on
// them), and keys choose partitions with Kafka's own hash, so that any
// client finds a key's partition.
func NewKafkaHeads(base []kgo.Opt, t config.Topic) (*KafkaHeads, error) {
	topic := t.Name
	opts := append(append([]kgo.Opt(nil), base...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", topic, err)
	}
	return &KafkaHeads{cl: cl, adm: kadm.NewClient(cl), topic: topic, spec: t, base: base}, nil
}

// Client is the producer's client, for the caller's other metadata reads.
func (k *KafkaHeads) Client() *kgo.Client { return k.cl }

// Close closes the producer.
func (k *KafkaHeads) Close() { k.cl.Close() }

// Check verifies at startup that the heads topic exists. The router
// creates it (compacted, with the pipeline's other topics); a sink that
// starts first creates it the same way when its credentials may.
func (k *KafkaHeads) Check(ctx context.Context) error {
	if _, err := k.partitions(ctx); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, headsTimeout)
	defer cancel()
	// The file's replication, as the router would create it.
	cfg := HeadsTopicConfig()
	k.spec.AddDurabilityConfigs(cfg)
	resp, err := k.adm.CreateTopic(ctx, 1, k.spec.Replication(), cfg, k.topic)
	if err == nil && resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("the heads topic %s is missing and could not be created (the router creates it: compacted, "+
			"cleanup.policy=compact): %w", k.topic, err)
	}
	// A new topic takes a moment to reach every broker's metadata.
	for {
		_, err = k.partitions(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// HeadsTopicConfig is the heads topic's configuration: compacted, with
// segments that roll hourly so that compaction reaches the heads recorded
// since, and Load reads about one record per key.
func HeadsTopicConfig() map[string]*string {
	return map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("3600000"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.1"),
	}
}

func (k *KafkaHeads) partitions(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, headsTimeout)
	defer cancel()
	m, err := k.adm.Metadata(ctx, k.topic)
	if err != nil {
		return 0, fmt.Errorf("read the metadata of the heads topic %s: %w", k.topic, err)
	}
	t, ok := m.Topics[k.topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("heads topic %s: not in the metadata", k.topic)
	case t.Err != nil:
		return 0, fmt.Errorf("heads topic %s: %w", k.topic, t.Err)
	case len(t.Partitions) == 0:
		return 0, fmt.Errorf("heads topic %s has no partitions", k.topic)
	}
	return len(t.Partitions), nil
}

// Record implements HeadStore.
func (k *KafkaHeads) Record(ctx context.Context, h Head) error {
	ctx, cancel := context.WithTimeout(ctx, headsTimeout)
	defer cancel()
	r := &kgo.Record{Key: []byte(HeadKey(h.Connector, h.Partition)), Value: h.Encode()}
	if err := k.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("record the head of partition %d (offset %d) in %s: %w", h.Partition, h.Last, k.topic, err)
	}
	return nil
}

// Load implements HeadStore: it reads the key's partition of the heads
// topic from its start to its end and keeps the key's last value. The
// topic is compacted, so that is about one record per connector and
// partition plus what compaction has not reached yet.
func (k *KafkaHeads) Load(ctx context.Context, connector string, partition int32) (Head, bool, error) {
	n, err := k.partitions(ctx)
	if err != nil {
		return Head{}, false, err
	}
	key := HeadKey(connector, partition)
	p := int32(kgo.StickyKeyPartitioner(nil).ForTopic(k.topic).Partition(&kgo.Record{Key: []byte(key)}, n))
	ctx, cancel := context.WithTimeout(ctx, headsTimeout)
	defer cancel()
	ends, err := k.adm.ListEndOffsets(ctx, k.topic)
	if err != nil {
		return Head{}, false, fmt.Errorf("list end offsets of %s: %w", k.topic, err)
	}
	end, ok := ends.Lookup(k.topic, p)
	if !ok || end.Err != nil {
		return Head{}, false, fmt.Errorf("end offset of %s partition %d: %v", k.topic, p, end.Err)
	}
	starts, err := k.adm.ListStartOffsets(ctx, k.topic)
	if err != nil {
		return Head{}, false, fmt.Errorf("list start offsets of %s: %w", k.topic, err)
	}
	if start, ok := starts.Lookup(k.topic, p); ok && start.Err == nil && start.Offset >= end.Offset {
		return Head{}, false, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), k.base...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{k.topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond),
		// A few heads, not a backlog: small fetches keep the sink's
		// memory where the runtime bounds it.
		kgo.FetchMaxBytes(256<<10), kgo.FetchMaxPartitionBytes(256<<10))...)
	if err != nil {
		return Head{}, false, fmt.Errorf("kafka client for %s: %w", k.topic, err)
	}
	defer cl.Close()
	var (
		head  Head
		found bool
	)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return Head{}, false, fmt.Errorf("read %s partition %d to offset %d: %w", k.topic, p, end.Offset, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return Head{}, false, fmt.Errorf("read %s partition %d: %w", k.topic, p, err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			done = done || r.Offset >= end.Offset-1
			if string(r.Key) != key {
				return
			}
			if r.Value == nil { // a tombstone
				head, found = Head{}, false
				return
			}
			if h, err := ParseHead(r.Value); err == nil {
				head, found = h, true
			}
		})
		if done {
			return head, found, nil
		}
	}
}
