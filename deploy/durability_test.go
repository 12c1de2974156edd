package deploy

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/auditstream/auditstream/config"
)

// topicClasses are a pipeline's topic classes, by their key under topics.
func topicClasses(p *config.Pipeline) map[string]config.Topic {
	t := p.Topics
	return map[string]config.Topic{"events": t.Events, "dlq": t.DLQ, "connector": t.Connector, "heads": t.Heads, "state": t.State}
}

// TestChartDurability: every pipeline the chart renders creates every
// topic class with 3 replicas and 2 in sync, the production settings.
func TestChartDurability(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(filepath.Base(tc.values), func(t *testing.T) {
			files, err := renderChart(t, tc.values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for class, tp := range topicClasses(checkPipeline(t, decode(t, files), tc)) {
				if tp.ReplicationFactor != 3 || tp.MinInsyncReplicas != 2 {
					t.Errorf("topics.%s: got replication_factor %d, min_insync_replicas %d; want 3 and 2", class, tp.ReplicationFactor, tp.MinInsyncReplicas)
				}
			}
		})
	}
}

// TestComposeDurability: docker-compose.yml runs one broker, so its
// pipeline asks for 1 replica and 1 in sync on every class: more would stop
// `router setup` (INVALID_REPLICATION_FACTOR), and leaving them unset would
// hide that the settings are the single broker's.
func TestComposeDurability(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	brokers := 0
	for _, s := range p.Services {
		if _, ok := s.Environment["KAFKA_NODE_ID"]; ok {
			brokers++
		}
	}
	pl := loadPipeline(t, p, hostFile{root: root, secrets: makeSecrets(t)})
	for class, tp := range topicClasses(pl) {
		if got, want := fmt.Sprint(tp.ReplicationFactor, tp.MinInsyncReplicas), fmt.Sprint(brokers, min(brokers, 2)); got != want {
			t.Errorf("topics.%s: got replication_factor and min_insync_replicas %s, want %s with %d broker(s)", class, got, want, brokers)
		}
	}
}
