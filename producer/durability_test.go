package producer_test

import (
	"strings"
	"testing"

	"github.com/auditstream/auditstream/producer"
)

func TestDurabilityCheck(t *testing.T) {
	tests := []struct {
		name     string
		d        producer.Durability
		warnings []string // substrings, one per warning
		err      string   // substring; empty for none
	}{
		{name: "production", d: producer.Durability{Topic: "audit.events", ReplicationFactor: 3, MinInsyncReplicas: 2}},
		{name: "more replicas", d: producer.Durability{Topic: "audit.events", ReplicationFactor: 5, MinInsyncReplicas: 3}},
		{
			name:     "local stack",
			d:        producer.Durability{Topic: "audit.events", ReplicationFactor: 1, MinInsyncReplicas: 1},
			warnings: []string{"replication factor 1 is below 3", "min.insync.replicas 1 is below 2"},
		},
		{
			name:     "three replicas, one in sync",
			d:        producer.Durability{Topic: "audit.events", ReplicationFactor: 3, MinInsyncReplicas: 1},
			warnings: []string{"min.insync.replicas 1 is below 2"},
		},
		{
			name: "more in sync than replicas",
			d:    producer.Durability{Topic: "audit.events", ReplicationFactor: 1, MinInsyncReplicas: 2},
			err:  "topic audit.events: min.insync.replicas 2 is above its replication factor 1",
		},
		{
			name: "the refusal says what to change",
			d:    producer.Durability{Topic: "audit.events", ReplicationFactor: 3, MinInsyncReplicas: 4},
			err:  "lower the topic's min.insync.replicas to at most 3 (kafka-configs.sh --alter --entity-type topics --entity-name audit.events --add-config min.insync.replicas=3)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := tt.d.Check()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got error %v, want %q", err, tt.err)
			}
			if len(warnings) != len(tt.warnings) {
				t.Fatalf("got warnings %q, want %d saying %q", warnings, len(tt.warnings), tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("got warning %q, want it to say %q", warnings[i], w)
				}
			}
		})
	}
}
