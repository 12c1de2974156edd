// Package pipeline writes the pipeline files that the benchmark runs the
// router and the sinks with (the format is the config module's).
package pipeline

import (
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/auditstream/auditstream/bench/internal/cluster"
)

// File is one run's pipeline. Every topic it names exists before the run
// starts, with cluster.Partitions partitions.
type File struct {
	Brokers []string
	// Events is the router's input topic; empty for a sink alone.
	Events string
	DLQ    string
	// Prefix is prepended to a connector's id to name its topic.
	Prefix string
	// RouterGroup is the router's consumer group; empty for a sink alone.
	RouterGroup string
	// CommitInterval is the router's; 0 leaves the default.
	CommitInterval time.Duration
	// Connectors are the connector blocks, as the file spells them.
	Connectors []map[string]any
}

// Write writes the file to path.
func (f File) Write(path string) error {
	topics := map[string]any{
		"dlq":              map[string]any{"name": f.DLQ, "partitions": cluster.Partitions},
		"connector_prefix": f.Prefix,
		"connector":        map[string]any{"partitions": cluster.Partitions},
	}
	doc := map[string]any{
		"kafka":      map[string]any{"brokers": f.Brokers, "client_id": "auditstream-bench"},
		"topics":     topics,
		"connectors": f.Connectors,
	}
	if f.Events != "" {
		topics["events"] = map[string]any{"name": f.Events, "partitions": cluster.Partitions}
	}
	if f.RouterGroup != "" {
		router := map[string]any{"group": f.RouterGroup, "listen": "127.0.0.1:0"}
		if f.CommitInterval > 0 {
			router["commit_interval"] = f.CommitInterval.String()
		}
		doc["router"] = router
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
