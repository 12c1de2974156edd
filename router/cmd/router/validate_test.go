package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateTLSFiles: `router validate` refuses a pipeline whose Kafka TLS
// files are missing, with file:line, instead of saying ok.
func TestValidateTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipeline.yaml")
	missing := filepath.Join(dir, "missing-ca.pem")
	body := "kafka:\n  brokers: [127.0.0.1:9093]\n  tls:\n    ca_file: " + missing + "\nconnectors: []\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"validate", "--config", cfg}, &stdout, &stderr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	want := cfg + ":4: kafka.tls.ca_file: " + missing + ": no such file or directory"
	if code != 2 || !strings.Contains(stderr.String(), want) || strings.Contains(stdout.String(), "ok") {
		t.Errorf("got exit %d, stdout %q, stderr %q; want exit 2 and %q", code, stdout.String(), stderr.String(), want)
	}
}
