package config

import (
	"fmt"
	"strconv"
)

// Replication is the replication factor to create t with: -1, which asks
// the brokers for their default.replication.factor, when the file leaves it
// unset (kadm's CreateTopic takes it so).
func (t Topic) Replication() int16 {
	if t.ReplicationFactor == 0 {
		return -1
	}
	return t.ReplicationFactor
}

// AddDurabilityConfigs adds t's min.insync.replicas, when the file sets it,
// to the configs a topic is created with. Unset, the topic inherits the
// brokers' min.insync.replicas.
func (t Topic) AddDurabilityConfigs(cfg map[string]*string) {
	if t.MinInsyncReplicas > 0 {
		v := strconv.Itoa(t.MinInsyncReplicas)
		cfg["min.insync.replicas"] = &v
	}
}

// durability checks a topic class's replication settings. A
// min_insync_replicas above the replication_factor is refused: every
// producer of the pipeline writes with acks=all, and no such write could
// ever be acknowledged (the brokers answer NOT_ENOUGH_REPLICAS). When only
// one of the two is set, the other is the brokers' default, which only the
// brokers know: the router checks the topic as created.
func (v *validator) durability(t Topic, key string) {
	if t.ReplicationFactor < 0 {
		v.at("must be at least 1 (leave it out for the brokers' default.replication.factor)", "topics", key, "replication_factor")
	}
	if t.MinInsyncReplicas < 0 {
		v.at("must be at least 1 (leave it out for the brokers' min.insync.replicas)", "topics", key, "min_insync_replicas")
	}
	if t.ReplicationFactor > 0 && t.MinInsyncReplicas > int(t.ReplicationFactor) {
		v.at(fmt.Sprintf("%d is above replication_factor %d: no acks=all write could be acknowledged; "+
			"lower min_insync_replicas or raise replication_factor (3 and 2 in production)", t.MinInsyncReplicas, t.ReplicationFactor),
			"topics", key, "min_insync_replicas")
	}
}
