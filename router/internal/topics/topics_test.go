package topics

import (
	"strings"
	"testing"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer"
)

func TestForPipelineDurability(t *testing.T) {
	p, err := config.Parse("pipeline.yaml", []byte(`kafka: {brokers: [127.0.0.1:9092]}
topics:
  events: {replication_factor: 3, min_insync_replicas: 2}
  connector: {replication_factor: 5, min_insync_replicas: 3}
  heads: {min_insync_replicas: 2}
connectors:
  - {id: a, type: s3, s3: {bucket: unused}}
`))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		class     string
		rf        int16
		minInsync int
		compact   bool
	}
	wants := map[string]want{
		"audit.events":       {"events", 3, 2, false},
		"audit.dlq":          {"dlq", 0, 0, false},
		"audit.router.state": {"state", 0, 0, true},
		"audit.heads":        {"heads", 0, 2, true},
		"audit.connector.a":  {"connector", 5, 3, false},
	}
	specs := ForPipeline(p)
	if len(specs) != len(wants) {
		t.Fatalf("got %d specs, want %d", len(specs), len(wants))
	}
	for _, s := range specs {
		w, ok := wants[s.Name]
		if got := (want{s.Class, s.ReplicationFactor, s.MinInsyncReplicas, s.Compact}); !ok || got != w {
			t.Errorf("topic %s: got %+v, want %+v", s.Name, got, w)
		}
	}
}

func TestDifferences(t *testing.T) {
	spec := Spec{Topic: config.Topic{Name: "audit.events", ReplicationFactor: 3, MinInsyncReplicas: 2}, Class: "events"}
	tests := []struct {
		name   string
		spec   Spec
		actual producer.Durability
		want   []string
	}{
		{"as the file says", spec, producer.Durability{ReplicationFactor: 3, MinInsyncReplicas: 2}, nil},
		{"file unset", Spec{Topic: config.Topic{Name: "audit.dlq"}, Class: "dlq"}, producer.Durability{ReplicationFactor: 1, MinInsyncReplicas: 1}, nil},
		{"both differ", spec, producer.Durability{ReplicationFactor: 1, MinInsyncReplicas: 1}, []string{
			"topic audit.events has replication factor 1, the pipeline file says 3 (topics.events.replication_factor)",
			"topic audit.events has min.insync.replicas 1, the pipeline file says 2 (topics.events.min_insync_replicas): an existing topic is never altered; " +
				"run kafka-configs.sh --alter --entity-type topics --entity-name audit.events --add-config min.insync.replicas=2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := differences(tt.spec, tt.actual)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d messages", got, len(tt.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("got %q, want it to say %q", got[i], tt.want[i])
				}
			}
		})
	}
}
