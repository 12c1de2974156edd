package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindBrokers(t *testing.T) {
	root := t.TempDir()
	stackEnv := writeStackEnv(t, filepath.Join(root, "repo"), "127.0.0.1:19092")
	quoted := filepath.Join(root, "quoted")
	if err := os.MkdirAll(filepath.Join(quoted, ".stack"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(quoted, ".stack", "env"), []byte("export AUDITSTREAM_BROKERS='h1:1,it'\\''s:2'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Kafka stopped: up.sh lists only running services.
	stopped := filepath.Join(root, "stopped")
	if err := os.MkdirAll(filepath.Join(stopped, ".stack"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stopped, ".stack", "env"), []byte("export AUDITSTREAM_S3_ENDPOINT=http://127.0.0.1:19000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       string
		dir       string
		wantAddrs string
		wantStack bool
	}{
		{"variable wins", "10.0.0.1:9092", filepath.Join(root, "repo"), "10.0.0.1:9092", false},
		{"stack env in this directory", "", filepath.Join(root, "repo"), "127.0.0.1:19092", true},
		{"stack env in a parent", "", filepath.Join(root, "repo", ".stack", "kafka"), "127.0.0.1:19092", true},
		{"quoted value", "", quoted, "h1:1,it's:2", true},
		{"stack without Kafka", "", stopped, defaultBrokers, false},
		{"no stack", "", root, defaultBrokers, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "AUDITSTREAM_BROKERS" {
					return tc.env
				}
				return ""
			}
			if err := os.MkdirAll(tc.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := findBrokers(getenv, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.addrs != tc.wantAddrs || got.stack != tc.wantStack {
				t.Errorf("got %+v, want %s (stack %v)", got, tc.wantAddrs, tc.wantStack)
			}
			if got.stack && got.from != "from "+stackEnv && tc.name != "quoted value" {
				t.Errorf("from: got %q, want %q", got.from, "from "+stackEnv)
			}
		})
	}
}
