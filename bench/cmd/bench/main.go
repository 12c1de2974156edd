// Command bench measures Auditstream against raw franz-go on the same
// broker. Each subcommand is one scenario and prints its result (JSON with
// --json); `bench report` gathers the results into one table. bench/run.sh
// runs them all for `make bench`.
//
// Exit codes: 0 ok (whether or not a goal was met); 1 a measurement could
// not be made; 2 bad usage.
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

	"github.com/auditstream/auditstream/service/buildinfo"
)

const usage = `bench measures Auditstream against raw franz-go on the same broker.

Usage:
  bench produce [flags]   1: SDK PublishAsync throughput vs franz-go Produce
  bench latency [flags]   2: SDK Publish latency vs franz-go ProduceSync, open loop
  bench route   [flags]   3 and 4: router drain rate, CPU and memory vs a passthrough
  bench pipe    [flags]   the passthrough itself (run by bench route), or a bare consumer (run by bench sink)
  bench sink    [flags]   5, 6, 9-12: on one backlog (--encoding), the S3 and Datadog sinks' drains, CPU
                          and memory vs a raw consumer, the floor (--floor) and the peer (--peer)
  bench floor   [flags]   the floor itself (run by bench sink --floor): consume, gzip, PUT
  bench e2e     [flags]   7: publish to S3 object visible and to intake accepted, behind the router
  bench gzip    [flags]   8: the S3 sink's compressor benchmark (go test output) as a result
  bench report  [flags] RESULT.json...   gather results into one table and file

Brokers come from --brokers or AUDITSTREAM_BROKERS. Progress goes to stderr.
Run "bench COMMAND -h" for a command's flags.
`

func main() {
	if buildinfo.Asked("bench", os.Args[1:], os.Stdout) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("prog", "bench")
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, log))
}

// command is one subcommand: it defines its flags on fs, and returns the
// function that runs once they are parsed.
type command func(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(ctx context.Context) error

func run(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	commands := map[string]command{
		"produce": produceCmd,
		"latency": latencyCmd,
		"route":   routeCmd,
		"pipe":    pipeCmd,
		"sink":    sinkCmd,
		"floor":   floorCmd,
		"e2e":     e2eCmd,
		"gzip":    gzipCmd,
		"report":  reportCmd,
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	do := cmd(fs, stdout, log.With("cmd", args[0]))
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := do(ctx); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "bench %s: %v\n", args[0], err)
			return 2
		}
		log.Error(args[0], "err", err)
		return 1
	}
	return 0
}

// usageError is a bad flag value, exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
