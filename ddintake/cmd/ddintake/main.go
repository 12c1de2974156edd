// Command ddintake serves the Datadog Logs intake test server, for scripts, demos
// and tests that run it as a process.
//
// Usage:
//
//	DD_API_KEY=... ddintake --api-key-env DD_API_KEY --addr-file /tmp/ddintake.addr
//
// The accepted API keys come from an environment variable or a file, never from
// the command line, and are never logged. The intake is POST /api/v2/logs; the
// controls are under /_intake/ (see package ddintake).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/auditstream/auditstream/ddintake"
	"github.com/auditstream/auditstream/service/buildinfo"
)

func main() {
	if buildinfo.Asked("ddintake", os.Args[1:], os.Stdout) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, logger)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		logger.Error("ddintake stopped", "err", err)
		os.Exit(1)
	}
}

// run parses args, builds the server and serves it until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, logger *slog.Logger) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	keys, err := loadAPIKeys(cfg.apiKeyEnv, cfg.apiKeyFile, getenv)
	if err != nil {
		return fmt.Errorf("load api keys: %w", err)
	}
	ln, err := listen(cfg.listen, cfg.allowRemote)
	if err != nil {
		return err
	}
	srv := ddintake.New(ddintake.Options{APIKeys: keys, Logger: logger})
	return serve(ctx, ln, srv, cfg.addrFile, logger)
}
