package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oneEvent is a valid NDJSON line.
const oneEvent = `{"projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z", "tenants": ["acme"]}` + "\n"

// unusedAddr is a 127.0.0.1 address where nothing listens.
func unusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// runFor runs the CLI with a deadline well past the fail-fast bound, so a
// command that waits for Kafka ends the test instead of hanging it.
func runFor(t *testing.T, args []string, stdin string) (code int, stdout, stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	start := time.Now()
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String(), time.Since(start)
}

// TestUnreachableBrokerFailsFast: a broker address where nothing listens
// ends the run within seconds, with an exit code of its own and a message
// that names the address and the ways to set it, instead of two minutes of
// "published 0 events".
func TestUnreachableBrokerFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"publish", []string{"publish", "--quiet"}},
		{"generate", []string{"generate", "--quiet", "--count", "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := unusedAddr(t)
			code, _, stderr, took := runFor(t, append(tc.args, "--brokers", addr), oneEvent)
			if code != exitUnreachable {
				t.Errorf("exit code: got %d, want %d (Kafka unreachable)", code, exitUnreachable)
			}
			if took > 10*time.Second {
				t.Errorf("took %v, want a fast failure (< 10s)", took)
			}
			for _, want := range []string{"unreachable", addr, "--brokers", "AUDITSTREAM_BROKERS", "--config"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "line 0") {
				t.Errorf("stderr speaks of line 0:\n%s", stderr)
			}
		})
	}
}

// writeStackEnv writes dir/.stack/env as stack/up.sh does.
func writeStackEnv(t *testing.T, dir, brokers string) string {
	t.Helper()
	env := filepath.Join(dir, ".stack", "env")
	if err := os.MkdirAll(filepath.Dir(env), 0o755); err != nil {
		t.Fatal(err)
	}
	body := "# Written by stack/up.sh / stack/down.sh; only running services are listed.\n" +
		"export AUDITSTREAM_BROKERS=" + brokers + "\n" +
		"export AUDITSTREAM_STACK_DIR=" + filepath.Dir(env) + "\n"
	if err := os.WriteFile(env, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestBrokersFromStackEnv: with AUDITSTREAM_BROKERS unset, a command run
// anywhere inside a checkout whose local stack is up uses the stack's
// address (from .stack/env in the directory or a parent) and says so.
func TestBrokersFromStackEnv(t *testing.T) {
	root := t.TempDir()
	addr := unusedAddr(t)
	env := writeStackEnv(t, root, addr)
	sub := filepath.Join(root, "producer", "cmd")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	t.Setenv("AUDITSTREAM_BROKERS", "")

	code, _, stderr, took := runFor(t, []string{"publish", "--quiet"}, oneEvent)
	if !strings.Contains(stderr, env) || !strings.Contains(stderr, addr) {
		t.Errorf("stderr does not say that it uses %s from %s:\n%s", addr, env, stderr)
	}
	// Nothing listens there: the failure names the stack's address.
	if code != exitUnreachable || took > 10*time.Second {
		t.Errorf("got exit %d after %v, want %d within 10s; stderr:\n%s", code, took, exitUnreachable, stderr)
	}
}

// TestHelpAndVersion: --help and --version answer on stdout with exit 0.
func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Exit codes"},
		{[]string{"help"}, "Kafka is unreachable"},
		{[]string{"--version"}, "producer "},
		{[]string{"version"}, "producer "},
	} {
		code, stdout, stderr, _ := runFor(t, tc.args, "")
		if code != exitOK || !strings.Contains(stdout, tc.want) {
			t.Errorf("%v: got exit %d, stdout %q, stderr %q; want exit 0 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	// A command's --help is not an error either, and shows the exit codes.
	code, _, stderr, _ := runFor(t, []string{"publish", "--help"}, "")
	if code != exitOK || !strings.Contains(stderr, "allow-unknown-fields") || !strings.Contains(stderr, "4 ") {
		t.Errorf("publish --help: got exit %d, stderr:\n%s", code, stderr)
	}
}
