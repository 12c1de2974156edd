// Command auditctl is the operator's tool over the pipeline file: status,
// replay, dead letters, connector tests, and, through the commands that
// own them, backfill (router) and the archive check (sink).
//
// Exit codes (every subcommand):
//
//	0  done; nothing wrong found
//	1  a problem was found, or the action was refused or declined: a
//	   service not ready, a replay refused (members active, offsets that
//	   would skip records), a dead letter refused, a destination test
//	   that failed on credentials, permissions, bucket or lock
//	2  bad usage or configuration
//	3  Kafka, or the destination under test, could not be reached
//	   (DNS, connection, TLS, timeout)
//	130 interrupted
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/buildinfo"
	"github.com/auditstream/auditstream/service/kafkalog"
	"github.com/auditstream/auditstream/sinks/internal/pipeline"
)

// Exit codes.
const (
	exitOK          = 0
	exitProblem     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

const usage = `auditctl operates an Auditstream pipeline: the same pipeline file, TLS and
SASL settings as the router and the sinks.

Usage:
  auditctl status   [--connector ID] [--watch] [--json]        lag, members, last write, readiness, dead letters
  auditctl replay   --connector ID --from WHERE [--dry-run] ...  rewind one connector's consumer group
  auditctl dlq list [filters] [--json]                          dead letters, with a decoded preview
  auditctl dlq show TOPIC/PARTITION/OFFSET [--json]             one dead letter, all headers
  auditctl dlq redrive [filters | --ref REF ...] [--yes]       send dead letters back, exactly once
  auditctl test     --connector ID [--json]                     prove the destination accepts a write
  auditctl backfill --connector ID --from T [--to T2] [--json]  fill a new connector from audit.events (router backfill)
  auditctl verify   --connector ID [--json] ...                 check an S3 connector's archive (sink verify)
  auditctl validate [--secrets=false]                           check the whole pipeline file, every secret included
  auditctl version                                              print the version

Every subcommand takes --config FILE (default $AUDITSTREAM_CONFIG, else
pipeline.yaml) and --help.

Exit codes: 0 ok; 1 problem found, refused or declined; 2 bad usage or
configuration, or a Kafka ACL missing; 3 Kafka or the destination
unreachable; 130 interrupted.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, terminal: isTerminal(os.Stdin)}))
}

// env is the process's surroundings, given to each subcommand.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// terminal says stdin is a terminal: only then does auditctl ask.
	terminal bool
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(e.stdout, "auditctl", buildinfo.Version())
		return exitOK
	case "status":
		code = statusCmd(ctx, rest, e)
	case "replay":
		code = replayCmd(ctx, rest, e)
	case "dlq":
		code = dlqCmd(ctx, rest, e)
	case "test":
		code = testCmd(ctx, rest, e)
	case "validate":
		code = validateCmd(rest, e)
	case "backfill":
		code = delegate(ctx, "router", append([]string{"backfill"}, rest...), e)
	case "verify":
		code = delegate(ctx, "sink", append([]string{"verify"}, rest...), e)
	default:
		fmt.Fprintf(e.stderr, "auditctl: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	if ctx.Err() != nil && code != exitOK {
		return exitInterrupted
	}
	return code
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// command is a subcommand's flag set with the flags every one has.
type command struct {
	fs     *flag.FlagSet
	config *string
	json   *bool
	// args are the positional arguments.
	args []string
}

// newCommand makes the flag set of a subcommand; help is its usage text
// (with an example), printed by --help.
func newCommand(name, help string, e env) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv("AUDITSTREAM_CONFIG")
	if def == "" {
		def = "pipeline.yaml"
	}
	c := &command{fs: fs}
	c.config = fs.String("config", def, "pipeline file")
	c.json = fs.Bool("json", false, "write JSON on stdout")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return c
}

// parse parses args; ok false means return code.
func (c *command) parse(args []string, e env) (code int, ok bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			// Asked for: the text goes to stdout.
			c.fs.SetOutput(e.stdout)
			c.fs.Usage()
			return exitOK, false
		}
	}
	c.fs.SetOutput(e.stderr)
	// Flags may follow positional arguments (dlq show REF --config F).
	for {
		if err := c.fs.Parse(args); err != nil {
			return exitUsage, false
		}
		if c.fs.NArg() == 0 {
			return 0, true
		}
		c.args = append(c.args, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
}

// noArgs fails a command that takes no positional argument but got one.
func (c *command) noArgs(e env) bool {
	if len(c.args) > 0 {
		fmt.Fprintf(e.stderr, "auditctl %s: unexpected argument %q\n", c.fs.Name(), c.args[0])
		return false
	}
	return true
}

// load reads the pipeline file.
func (c *command) load(e env) (*config.Pipeline, bool) {
	p, err := pipeline.Load(*c.config)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, false
	}
	return p, true
}

// secrets resolves the secrets a subcommand uses, and no other: those of
// the Kafka connection, the admin token, and the connector it touches.
func secrets(p *config.Pipeline, s config.SecretScope, e env) bool {
	if err := p.CheckSecrets(s); err != nil {
		fmt.Fprintln(e.stderr, err)
		return false
	}
	return true
}

// kafka is what a subcommand needs of the cluster.
type kafka struct {
	opts []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
}

func (k *kafka) Close() { k.cl.Close() }

// connect makes the admin client and checks that the cluster answers.
func connect(ctx context.Context, p *config.Pipeline, e env) (*kafka, int) {
	opts, err := p.Kafka.ClientOpts()
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl:", err)
		return nil, exitUsage
	}
	opts = append(opts, kgo.WithLogger(kafkalog.New(slog.New(slog.NewTextHandler(e.stderr, nil)))))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl: kafka client:", err)
		return nil, exitUsage
	}
	k := &kafka{opts: opts, cl: cl, adm: kadm.NewClient(cl)}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := k.adm.BrokerMetadata(cctx); err != nil {
		cl.Close()
		// A wrong password, an untrusted certificate or SASL against a
		// plaintext listener is a setting to fix, not an outage.
		if ae := p.Kafka.Explain(err); ae != nil {
			fmt.Fprintln(e.stderr, "auditctl:", ae)
			return nil, exitUsage
		}
		fmt.Fprintf(e.stderr, "auditctl: kafka %v (from %s) unreachable: %v\n", p.Kafka.Brokers, p.Path, err)
		return nil, exitUnreachable
	}
	return k, 0
}

// connector finds --connector in the pipeline.
func connector(p *config.Pipeline, id string, e env) (*config.Connector, bool) {
	if id == "" {
		fmt.Fprintln(e.stderr, "auditctl: --connector is required")
		return nil, false
	}
	c, ok := p.Connector(id)
	if !ok {
		ids := make([]string, len(p.Connectors))
		for i, c := range p.Connectors {
			ids[i] = c.ID
		}
		fmt.Fprintf(e.stderr, "auditctl: %s has no connector %q (it has %v)\n", p.Path, id, ids)
		return nil, false
	}
	return c, true
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// httpClient reaches the services' admin endpoints.
func httpClient() *http.Client { return &http.Client{Timeout: 3 * time.Second} }
