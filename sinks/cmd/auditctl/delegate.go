package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// delegate runs another Auditstream command with args, passing its
// streams and its exit code through. Backfill is routing, and the router
// owns it (`router backfill`); the archive check is the one the S3 sink
// runs (`sink verify`). auditctl offers both under one name without a
// second copy of either: it runs the binary installed beside it, or the
// one on PATH.
func delegate(ctx context.Context, binary string, args []string, e env) int {
	path, err := find(binary)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditctl: %v\n", err)
		return exitUsage
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	// An interrupt reaches the child too (same process group); give it
	// the time to end its transaction or its report.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	}
	fmt.Fprintf(e.stderr, "auditctl: run %s: %v\n", path, err)
	return exitProblem
}

// find locates binary beside auditctl's own executable, else on PATH.
func find(binary string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), binary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("%s is neither beside auditctl nor on PATH (make build installs both into bin/)", binary)
	}
	return p, nil
}
