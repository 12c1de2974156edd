package config

import (
	"strings"
	"testing"
)

// durable is a pipeline file with the production durability settings on
// some topic classes and none on the others.
const durable = `kafka:
  brokers: [127.0.0.1:9092]
topics:
  events: {partitions: 12, replication_factor: 3, min_insync_replicas: 2}
  dlq: {replication_factor: 3}
  connector: {partitions: 6, replication_factor: 3, min_insync_replicas: 2}
  heads: {min_insync_replicas: 2}
  state: {replication_factor: 3, min_insync_replicas: 2}
`

func TestDurabilitySettings(t *testing.T) {
	p, err := Parse("pipeline.yaml", []byte(durable))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		class       string
		got         Topic
		rf          int16
		minInsync   int
		replication int16 // what topic creation asks for: -1 is the broker's default
	}{
		{"events", p.Topics.Events, 3, 2, 3},
		{"dlq", p.Topics.DLQ, 3, 0, 3},
		{"connector", p.Topics.Connector, 3, 2, 3},
		{"heads", p.Topics.Heads, 0, 2, -1},
		{"state", p.Topics.State, 3, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			if tt.got.ReplicationFactor != tt.rf || tt.got.MinInsyncReplicas != tt.minInsync {
				t.Errorf("got replication_factor %d, min_insync_replicas %d; want %d, %d", tt.got.ReplicationFactor, tt.got.MinInsyncReplicas, tt.rf, tt.minInsync)
			}
			if got := tt.got.Replication(); got != tt.replication {
				t.Errorf("Replication: got %d, want %d", got, tt.replication)
			}
			cfg := map[string]*string{}
			tt.got.AddDurabilityConfigs(cfg)
			switch v, ok := cfg["min.insync.replicas"]; {
			case tt.minInsync == 0 && ok:
				t.Errorf("topic configs: got min.insync.replicas=%s, want it absent (the broker's default)", *v)
			case tt.minInsync != 0 && (!ok || *v != "2"):
				t.Errorf("topic configs: got %v, want min.insync.replicas=2", cfg)
			}
		})
	}
}

// TestDurabilityDefaults: unset settings stay unset, so that the brokers'
// default.replication.factor and min.insync.replicas apply.
func TestDurabilityDefaults(t *testing.T) {
	p, err := Parse("pipeline.yaml", []byte("kafka: {brokers: [127.0.0.1:9092]}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, tp := range []Topic{p.Topics.Events, p.Topics.DLQ, p.Topics.Connector, p.Topics.Heads, p.Topics.State} {
		if tp.ReplicationFactor != 0 || tp.MinInsyncReplicas != 0 || tp.Replication() != -1 {
			t.Errorf("topic %q: got replication_factor %d, min_insync_replicas %d, Replication %d; want 0, 0, -1",
				tp.Name, tp.ReplicationFactor, tp.MinInsyncReplicas, tp.Replication())
		}
	}
}

func TestDurabilityErrors(t *testing.T) {
	tests := []struct {
		name string
		old  string
		new  string
		want string // file:line: message fragment
	}{
		{"min above rf", "events: {partitions: 12, replication_factor: 3, min_insync_replicas: 2}",
			"events: {partitions: 12, replication_factor: 1, min_insync_replicas: 2}",
			"pipeline.yaml:4: topics.events.min_insync_replicas: 2 is above replication_factor 1: no acks=all write could be acknowledged"},
		{"connector min above rf", "connector: {partitions: 6, replication_factor: 3, min_insync_replicas: 2}",
			"connector:\n    partitions: 6\n    replication_factor: 2\n    min_insync_replicas: 3",
			"pipeline.yaml:9: topics.connector.min_insync_replicas: 3 is above replication_factor 2"},
		{"negative rf", "dlq: {replication_factor: 3}", "dlq: {replication_factor: -1}",
			"pipeline.yaml:5: topics.dlq.replication_factor: must be at least 1 (leave it out for the brokers' default.replication.factor)"},
		{"negative min", "heads: {min_insync_replicas: 2}", "heads: {min_insync_replicas: -2}",
			"pipeline.yaml:7: topics.heads.min_insync_replicas: must be at least 1 (leave it out for the brokers' min.insync.replicas)"},
		{"rf over int16", "dlq: {replication_factor: 3}", "dlq: {replication_factor: 40000}",
			"pipeline.yaml:5:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(durable, tt.old) {
				t.Fatalf("test edits %q, which the file does not hold", tt.old)
			}
			_, err := Parse("pipeline.yaml", []byte(strings.Replace(durable, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
