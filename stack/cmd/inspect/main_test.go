package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInspectUnreachable: a broker where nothing listens is an error that
// names it, within seconds, not an empty report after the idle timeout.
func TestInspectUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	r, err := inspect(context.Background(), []string{addr}, "audit.events", 0, 15*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v, want a fast failure (< 10s)", took)
	}
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("got report %+v, error %v; want an error saying %s is unreachable", r, err, addr)
	}
}

// TestBrokersFromStackEnv: without --brokers and AUDITSTREAM_BROKERS, the
// address comes from the nearest .stack/env, else the default.
func TestBrokersFromStackEnv(t *testing.T) {
	root := t.TempDir()
	env := filepath.Join(root, ".stack", "env")
	if err := os.MkdirAll(filepath.Join(root, ".stack", "kafka"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte("# comment\nexport AUDITSTREAM_BROKERS=127.0.0.1:19092\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag, variable, dir string
		want, wantFrom            string
	}{
		{"flag", "h:1", "v:1", root, "h:1", ""},
		{"variable", "", "v:1", root, "v:1", ""},
		{"stack env in a parent", "", "", filepath.Join(root, ".stack", "kafka"), "127.0.0.1:19092", env},
		{"default", "", "", filepath.Dir(root), "127.0.0.1:9092", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(string) string { return tc.variable }
			got, from := brokers(tc.flag, getenv, tc.dir)
			if got != tc.want || from != tc.wantFrom {
				t.Errorf("got %q from %q, want %q from %q", got, from, tc.want, tc.wantFrom)
			}
		})
	}
}
