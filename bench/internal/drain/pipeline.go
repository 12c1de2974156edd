package drain

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// pipeline is the router's configuration for one run.
type pipeline struct {
	brokers  []string
	events   string
	prefix   string // of the connector topics
	dlq      string
	group    string
	interval time.Duration // 0: the router's default
}

// write writes the pipeline file. Destinations are placeholders: the
// router ignores them, but the config requires one per connector.
func (p pipeline) write(path string, conns []workload.Connector) error {
	var cs []map[string]any
	for _, c := range conns {
		cs = append(cs, map[string]any{
			"id": c.ID, "type": "s3", "filter": c.Filter,
			"s3": map[string]any{"bucket": "unused", "credentials": map[string]any{"source": "default"}},
		})
	}
	router := map[string]any{"group": p.group, "listen": "127.0.0.1:0"}
	if p.interval > 0 {
		router["commit_interval"] = p.interval.String()
	}
	doc := map[string]any{
		"kafka": map[string]any{"brokers": p.brokers, "client_id": "auditstream-bench"},
		"topics": map[string]any{
			"events":           map[string]any{"name": p.events, "partitions": cluster.Partitions},
			"dlq":              map[string]any{"name": p.dlq, "partitions": cluster.Partitions},
			"connector_prefix": p.prefix,
			"connector":        map[string]any{"partitions": cluster.Partitions},
		},
		"router":     router,
		"connectors": cs,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode pipeline: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write pipeline: %w", err)
	}
	return nil
}

var commitsEvery = regexp.MustCompile(`commits every (\S+);`)

// validate runs `router validate` on a pipeline file and returns the commit
// interval the router will use.
func validate(routerBin, path string) (time.Duration, error) {
	out, err := exec.Command(routerBin, "validate", "--config", path).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("router validate %s: %w\n%s", path, err, out)
	}
	m := commitsEvery.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("router validate %s: no commit interval in its output:\n%s", path, out)
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		return 0, fmt.Errorf("router validate %s: commit interval: %w", path, err)
	}
	return d, nil
}
