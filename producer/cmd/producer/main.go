// Command producer publishes audit events into Auditstream: from NDJSON
// files (publish) or as synthetic load (generate).
//
// Exit codes: 0 everything published; 1 some input lines were rejected (the
// good ones were published); 2 bad usage or configuration; 3 Kafka did not
// accept some events; 4 Kafka is unreachable (nothing was published).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/auditstream/auditstream/service/buildinfo"
)

// Exit codes.
const (
	exitOK       = 0
	exitRejected = 1
	exitUsage    = 2
	exitFailed   = 3
	// exitUnreachable: no broker answered within --connect-timeout.
	exitUnreachable = 4
)

const usage = `producer publishes audit events into Auditstream's audit.events topic.

Usage:
  producer publish  [flags] [FILE|-]   publish NDJSON (protojson) events, one per line
  producer generate [flags]            publish (or print) synthetic, realistic audit load
  producer version                     print the version

Run 'producer COMMAND --help' for a command's flags.

Kafka is reached through --brokers, or through the kafka section of a
pipeline file (--config). Without either: $AUDITSTREAM_BROKERS; else, when
the local stack runs (make up), its address from .stack/env in the current
directory or a parent (said on stderr); else 127.0.0.1:9092. When no broker
answers within --connect-timeout (5s), the command stops and says Kafka is
unreachable, naming the addresses it tried.

` + exitCodes

// exitCodes ends every usage text.
const exitCodes = `Exit codes: 0 all published; 1 some lines rejected; 2 usage or config error;
3 Kafka did not accept some events; 4 Kafka is unreachable (nothing published).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	code := exitOK
	switch args[0] {
	case "publish":
		code, err = publish(ctx, args[1:], stdin, stdout, stderr)
	case "generate":
		code, err = generate(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "producer", buildinfo.Version())
		return exitOK
	default:
		fmt.Fprintf(stderr, "producer: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			if ue.help {
				return exitOK
			}
			fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
			return exitUsage
		}
		fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
		var ke unreachableError
		switch {
		case errors.As(err, &ke):
			return exitUnreachable
		case code == exitOK:
			return exitFailed
		}
	}
	return code
}

// usageError is bad flags or configuration (exit 2), or --help (exit 0).
type usageError struct {
	err  error
	help bool
}

func (e usageError) Error() string { return e.err.Error() }
