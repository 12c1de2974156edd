package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDelegate: backfill and verify run the router's and the sink's own
// commands with the same arguments, and their exit code is auditctl's.
func TestDelegate(t *testing.T) {
	dir := t.TempDir()
	for _, bin := range []string{"router", "sink"} {
		script := "#!/bin/sh\necho \"" + bin + " $*\"\nexit 7\n"
		if err := os.WriteFile(filepath.Join(dir, bin), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backfill", "--connector", "s3-new", "--from", "earliest"}, "router backfill --connector s3-new --from earliest"},
		{[]string{"verify", "--connector", "s3-archive", "--json"}, "sink verify --connector s3-archive --json"},
	} {
		code, out, errs := runCtl(tc.args...)
		if code != 7 || strings.TrimSpace(out) != tc.want {
			t.Errorf("auditctl %v: exit %d, stdout %q (stderr %q); want exit 7 and %q", tc.args, code, out, errs, tc.want)
		}
	}
	t.Setenv("PATH", t.TempDir())
	if code, _, errs := runCtl("backfill", "--connector", "x"); code != exitUsage || !strings.Contains(errs, "router is neither beside auditctl nor on PATH") {
		t.Errorf("without a router binary: exit %d, stderr %q; want 2 and where it looked", code, errs)
	}
}
