package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackfillUsage: usage errors exit 2 with a reason, before any Kafka
// is contacted; --help exits 0 with an example.
func TestBackfillUsage(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(cfg, []byte(`kafka: {brokers: ["127.0.0.1:1"]}
connectors:
  - {id: a, type: s3, s3: {bucket: bucket, credentials: {source: default}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"help", []string{"--help"}, 0, "Example:"},
		{"no connector", []string{"--config", cfg, "--from", "earliest"}, 2, "--connector is required"},
		{"no from", []string{"--config", cfg, "--connector", "a"}, 2, "--from is required"},
		{"bad from", []string{"--config", cfg, "--connector", "a", "--from", "yesterday"}, 2, "want RFC3339"},
		{"to before from", []string{"--config", cfg, "--connector", "a", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, 2, "--to must be after --from"},
		{"to earliest", []string{"--config", cfg, "--connector", "a", "--from", "earliest", "--to", "earliest"}, 2, "want RFC3339"},
		{"unknown connector", []string{"--config", cfg, "--connector", "b", "--from", "earliest"}, 2, `connector "b" is not in`},
		{"missing file", []string{"--config", cfg + ".x", "--connector", "a", "--from", "earliest"}, 2, "pipeline.yaml.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := run(ctx, append([]string{"backfill"}, tt.args...), &stdout, &stderr, slog.New(slog.DiscardHandler))
			out := stdout.String() + stderr.String()
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("got exit %d, want %d with %q; output:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
}
