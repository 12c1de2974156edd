package producer

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Durability is how a topic keeps what Kafka acknowledges: its replication
// factor and its min.insync.replicas, as the brokers report them.
type Durability struct {
	Topic string
	// ReplicationFactor is the fewest replicas any partition has.
	ReplicationFactor int
	// MinInsyncReplicas is the topic's setting, or the broker default it
	// inherits.
	MinInsyncReplicas int
}

// Check refuses a topic where min.insync.replicas is above the replication
// factor. An acks=all write can never be acknowledged there (the brokers
// answer NOT_ENOUGH_REPLICAS), so every Publish fails. Check also warns when
// the topic is weaker than the production settings (3 replicas, 2 in sync).
// The local stack runs with 1 and 1, so it gets both warnings. Each message
// says what to change.
func (d Durability) Check() (warnings []string, err error) {
	if d.MinInsyncReplicas > d.ReplicationFactor {
		return nil, fmt.Errorf("topic %s: min.insync.replicas %d is above its replication factor %d: no acks=all write can succeed; "+
			"lower the topic's min.insync.replicas to at most %[3]d (kafka-configs.sh --alter --entity-type topics --entity-name %[1]s --add-config min.insync.replicas=%[3]d), "+
			"or add replicas (kafka-reassign-partitions.sh)",
			d.Topic, d.MinInsyncReplicas, d.ReplicationFactor)
	}
	if d.ReplicationFactor < 3 {
		warnings = append(warnings, fmt.Sprintf("topic %s: replication factor %d is below 3: losing %d broker(s) loses acknowledged events; "+
			"production topics have 3 replicas (kafka-reassign-partitions.sh adds them to a topic)", d.Topic, d.ReplicationFactor, d.ReplicationFactor))
	}
	if d.MinInsyncReplicas < 2 {
		warnings = append(warnings, fmt.Sprintf("topic %s: min.insync.replicas %d is below 2: an event acknowledged by its leader alone is lost if that broker fails before a follower copies it; "+
			"production topics have min.insync.replicas=2 with 3 replicas (kafka-configs.sh --alter --entity-type topics --add-config min.insync.replicas=2)", d.Topic, d.MinInsyncReplicas))
	}
	return warnings, nil
}

// Durability asks the brokers for the topic's replication factor and
// min.insync.replicas. It is the SDK's optional check: call it at start and
// pass the result to Check. New does not call it, because New does not
// wait for the brokers. It needs the DescribeConfigs ACL on the topic.
func (p *Producer) Durability(ctx context.Context) (Durability, error) {
	return TopicDurability(ctx, p.client, p.topic)
}

// TopicDurability is Producer.Durability for any topic, through any client
// (a *kgo.Client is a kmsg.Requestor).
func TopicDurability(ctx context.Context, cl kmsg.Requestor, topic string) (Durability, error) {
	d := Durability{Topic: topic}

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return d, fmt.Errorf("read the metadata of topic %s: %w", topic, err)
	}
	if len(mresp.Topics) != 1 {
		return d, fmt.Errorf("read the metadata of topic %s: %d topics in the answer", topic, len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return d, fmt.Errorf("read the metadata of topic %s: %w", topic, err)
	}
	parts := mresp.Topics[0].Partitions
	if len(parts) == 0 {
		return d, fmt.Errorf("read the metadata of topic %s: no partitions", topic)
	}
	d.ReplicationFactor = len(parts[0].Replicas)
	for _, part := range parts[1:] {
		d.ReplicationFactor = min(d.ReplicationFactor, len(part.Replicas))
	}

	const name = "min.insync.replicas"
	cfg := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = topic
	res.ConfigNames = []string{name}
	cfg.Resources = append(cfg.Resources, res)
	cresp, err := cfg.RequestWith(ctx, cl)
	if err != nil {
		return d, fmt.Errorf("read %s of topic %s: %w", name, topic, err)
	}
	for _, r := range cresp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return d, fmt.Errorf("read %s of topic %s: %w", name, topic, err)
		}
		for _, c := range r.Configs {
			if c.Name != name || c.Value == nil {
				continue
			}
			n, err := strconv.Atoi(*c.Value)
			if err != nil {
				return d, fmt.Errorf("read %s of topic %s: %q: %w", name, topic, *c.Value, err)
			}
			d.MinInsyncReplicas = n
			return d, nil
		}
	}
	return d, fmt.Errorf("read %s of topic %s: the brokers did not say", name, topic)
}
