package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCtl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// TestHelpAndUsage: every subcommand's --help goes to stdout with an
// example and exits 0; bad usage exits 2.
func TestHelpAndUsage(t *testing.T) {
	for _, sub := range [][]string{{"status"}, {"replay"}, {"dlq"}, {"dlq", "list"}, {"dlq", "redrive"}, {"test"}, {"validate"}} {
		code, out, _ := runCtl(append(sub, "--help")...)
		if code != exitOK || !strings.Contains(out, "Example:") || !strings.Contains(out, "auditctl "+sub[0]) {
			t.Errorf("%v --help: exit %d\n%s", sub, code, out)
		}
	}
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(cfg, []byte("kafka: {brokers: [127.0.0.1:1]}\nconnectors: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3cfg := filepath.Join(t.TempDir(), "s3.yaml")
	if err := os.WriteFile(s3cfg, []byte(`kafka: {brokers: [127.0.0.1:1]}
connectors:
  - id: arch
    type: s3
    s3: {bucket: archive, region: us-east-1}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"nope"}, exitUsage, "unknown command"},
		{[]string{"version"}, exitOK, ""},
		{[]string{"--version"}, exitOK, ""},
		{[]string{"status", "--bogus"}, exitUsage, "bogus"},
		{[]string{"status", "stray", "--config", cfg}, exitUsage, "unexpected argument"},
		{[]string{"replay", "--config", cfg, "--connector", "x", "--from", "yesterday"}, exitUsage, "--from"},
		{[]string{"replay", "--config", cfg, "--connector", "x", "--from", "earliest"}, exitUsage, "no connector"},
		{[]string{"replay", "--config", cfg, "--connector", "x", "--from", "earliest", "--to", "earliest"}, exitUsage, "--to \"earliest\""},
		{[]string{"replay", "--config", cfg, "--connector", "x", "--from", "earliest", "--to", "0:5", "--follow"}, exitUsage, "do not apply"},
		{[]string{"replay", "--config", s3cfg, "--connector", "arch", "--from", "earliest", "--to", "0:5"}, exitUsage, "--to is for Datadog"},
		{[]string{"test", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--connector", "x"}, exitUsage, "read config"},
		{[]string{"dlq", "redrive", "--config", cfg}, exitUsage, "--all"},
		{[]string{"dlq", "show", "--config", cfg}, exitUsage, "TOPIC/PARTITION/OFFSET"},
		{[]string{"dlq", "show", "audit.dlq/0/1", "--config", cfg, "--since", "x"}, exitUsage, "RFC 3339"},
		{[]string{"status", "--config", cfg}, exitUnreachable, "unreachable"},
	} {
		code, out, errs := runCtl(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.msg) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.msg, out, errs)
		}
	}
}
