//go:build integration

package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRouterWaitsForKafka reproduces what make chaos found (seed 4, short):
// a router replica started while the broker restarts logs "kafka is not
// reachable yet; the client keeps retrying", and then exits 1 at once
// ("create topic ...: unable to dial"), again at each restart until the
// broker is back. (A running router also exits, "end transaction: unable to
// dial", when the broker goes away: the fleet of make chaos restarts both,
// and counts each as a crash.) A router that says it keeps retrying must
// still be running a few seconds later.
func TestRouterWaitsForKafka(t *testing.T) {
	env, err := readStackEnv()
	if err != nil {
		t.Fatalf("this test needs the local stack: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := t.TempDir()
	if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "goccy_gojson", "-o", bin,
		"github.com/auditstream/auditstream/router/cmd/router").CombinedOutput(); err != nil {
		t.Fatalf("build the router: %v: %s", err, out)
	}
	// A broker address where nothing listens: a port just freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	env.brokers = []string{down}
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := writePipeline(cfg, "routerwait", "routerwait", env, "http://127.0.0.1:1", connectors("routerwait")[:1]); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "router"), "run", "--config", cfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Errorf("got the router exited (%v) within 15 s of a start with Kafka down, want it waiting for Kafka; its log:\n%s", err, out.String())
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}
