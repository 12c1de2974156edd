// Command router routes audit events from audit.events to one topic per
// connector, exactly once, applying each connector's filter.
//
// Exit codes: 0 ok; 1 runtime failure; 2 bad usage or configuration.
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
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/router/internal/topics"
)

const usage = `router routes audit events from audit.events to one topic per connector.

Usage:
  router setup    --config FILE   create the pipeline's topics that are missing
  router validate --config FILE   check a pipeline file and say what each connector receives

Exit codes: 0 ok; 1 runtime failure; 2 bad usage or configuration.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, log))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "pipeline.yaml", "pipeline file")
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags:\n"); fs.PrintDefaults() }
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "setup", "validate":
	default:
		fmt.Fprintf(stderr, "router: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	p, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	switch args[0] {
	case "validate":
		fmt.Fprintf(stdout, "%s: ok, %d connectors\n", p.Path, len(p.Connectors))
		return 0
	default:
		if err := setup(ctx, p, log); err != nil {
			log.Error("setup", "err", err)
			return 1
		}
		return 0
	}
}

// setup creates the topics the pipeline needs.
func setup(ctx context.Context, p *config.Pipeline, log *slog.Logger) error {
	opts, err := p.Kafka.ClientOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	created, err := topics.Ensure(ctx, kadm.NewClient(cl), topics.ForPipeline(p))
	if err != nil {
		return err
	}
	log.Info("topics ready", "created", created)
	return nil
}
