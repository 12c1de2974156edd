package route

import (
	"fmt"
	"os/exec"
	"regexp"
	"time"

	"github.com/auditstream/auditstream/bench/internal/pipeline"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// routerFile is the router's pipeline for one run: the benchmark
// connectors, with placeholder destinations (the router ignores them, but
// the config requires one per connector).
func routerFile(brokers []string, events, dlq, prefix, group string, interval time.Duration) pipeline.File {
	var cs []map[string]any
	for _, c := range workload.Connectors() {
		cs = append(cs, map[string]any{
			"id": c.ID, "type": "s3", "filter": c.Filter,
			"s3": map[string]any{"bucket": "unused", "credentials": map[string]any{"source": "default"}},
		})
	}
	return pipeline.File{Brokers: brokers, Events: events, DLQ: dlq, Prefix: prefix, RouterGroup: group, CommitInterval: interval, Connectors: cs}
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
