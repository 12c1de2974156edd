// Package topics creates the pipeline's topics: audit.events, the
// dead-letter topic, the router's compacted state topic and one topic per
// connector. Creation is idempotent: a
// topic that exists is left as it is, whatever its settings, because
// changing partitions would move keys between partitions and break per-key
// order.
package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/auditstream/auditstream/config"
)

// Spec is a topic to create.
type Spec struct {
	// Topic is the name and the creation settings, from the pipeline file:
	// partitions, retention, replication factor and min.insync.replicas
	// (unset: the brokers' defaults).
	config.Topic
	// Class is the topic's key under topics in the pipeline file (events,
	// dlq, connector, heads, state), for messages.
	Class string
	// MaxMessageBytes is the topic's max.message.bytes; 0 leaves the
	// broker's default.
	MaxMessageBytes int32
	// Compact makes the topic compacted (cleanup.policy=compact): it keeps
	// the last value of each key, whatever its age.
	Compact bool
}

// ForPipeline lists every topic the pipeline needs. Their record size
// limits follow the event size cap (config.Pipeline.RecordBytes).
func ForPipeline(p *config.Pipeline) []Spec {
	t := p.Topics
	specs := []Spec{
		{Topic: t.Events, Class: "events", MaxMessageBytes: p.SourceRecordBytes()},
		{Topic: t.DLQ, Class: "dlq", MaxMessageBytes: p.RecordBytes()},
		{Topic: t.State, Class: "state", Compact: true},
		// The S3 sinks' chain heads, kept outside the bucket.
		{Topic: t.Heads, Class: "heads", Compact: true},
	}
	for _, c := range p.Connectors {
		ct := t.Connector
		ct.Name = p.ConnectorTopic(c.ID)
		specs = append(specs, Spec{Topic: ct, Class: "connector", MaxMessageBytes: p.RecordBytes()})
	}
	return specs
}

// Ensure creates the topics that do not exist yet and returns their names,
// with the replication factor and min.insync.replicas of the file, or the
// brokers' defaults where it has none. Topics that exist are found first
// and left alone: Kafka refuses a CreateTopics without the Create ACL even
// for a topic that exists, so a router whose topics were made by `router
// setup` runs without it.
func Ensure(ctx context.Context, adm *kadm.Client, specs []Spec) (created []string, err error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	listed, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for _, s := range specs {
		if d, ok := listed[s.Name]; ok && d.Err == nil {
			continue
		}
		cfg := map[string]*string{}
		if s.Compact {
			cfg["cleanup.policy"] = kadm.StringPtr("compact")
		}
		if s.Retention > 0 && !s.Compact {
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(s.Retention.D().Milliseconds(), 10))
		}
		if s.MaxMessageBytes > 0 {
			cfg["max.message.bytes"] = kadm.StringPtr(strconv.Itoa(int(s.MaxMessageBytes)))
		}
		s.AddDurabilityConfigs(cfg)
		resp, err := adm.CreateTopic(ctx, s.Partitions, s.Replication(), cfg, s.Name)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(resp.Err, kerr.TopicAlreadyExists):
		case errors.Is(err, kerr.InvalidReplicationFactor) || errors.Is(resp.Err, kerr.InvalidReplicationFactor):
			// A configuration error: the file asks for more replicas than
			// the cluster has brokers.
			return created, &DurabilityError{fmt.Errorf("create topic %s with replication factor %d (topics.%s.replication_factor): %w: "+
				"lower replication_factor to at most the number of brokers", s.Name, s.ReplicationFactor, s.Class, kerr.InvalidReplicationFactor)}
		case err != nil:
			return created, fmt.Errorf("create topic %s: %w", s.Name, err)
		case resp.Err != nil:
			return created, fmt.Errorf("create topic %s: %w", s.Name, resp.Err)
		default:
			created = append(created, s.Name)
		}
	}
	slices.Sort(created)
	return created, nil
}
