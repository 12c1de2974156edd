// Command sink delivers one connector's events from its Kafka topic to the
// connector's destination (S3 or Datadog Logs), committing offsets only
// after the destination has durably accepted them.
//
// Exit codes: 0 ok; 1 runtime failure (or verify found problems); 2 bad
// usage or configuration, or a failed startup check.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/admin"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

const usage = `sink delivers one connector's events to its destination (S3 or Datadog Logs).

Usage:
  sink run    --config FILE --connector ID   deliver until SIGINT/SIGTERM (flush, commit, leave)
  sink verify --config FILE --connector ID   check an S3 connector's objects: hashes, chain, manifests

Exit codes: 0 ok; 1 runtime failure or verify found problems; 2 bad usage,
configuration or startup check.
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
	cmd := args[0]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "verify":
	default:
		fmt.Fprintf(stderr, "sink: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "pipeline.yaml", "pipeline file")
	id := fs.String("connector", "", "id of the connector")
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags:\n"); fs.PrintDefaults() }
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
	c, ok := p.Connector(*id)
	if !ok {
		fmt.Fprintf(stderr, "sink: %s has no connector %q\n", p.Path, *id)
		return 2
	}
	log = log.With("connector", c.ID)
	if cmd == "verify" {
		return verify(ctx, c, stdout, stderr, log)
	}
	if err := p.Kafka.CheckAccess(ctx, log); err != nil {
		log.Error("startup check failed; nothing consumed or committed", "err", err)
		return 2
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := writer(ctx, c, reg, log)
	if err != nil {
		log.Error("startup check failed; nothing consumed or committed", "err", err)
		return 2
	}
	adm, err := listenAdmin(p, c, reg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer adm.Close()
	// The client id advertises the admin address to auditctl (admin.ClientID).
	r, err := sink.New(sink.Options{Pipeline: p, Connector: c, Writer: w, Log: log, Registerer: reg,
		KafkaOpts: []kgo.Opt{kgo.ClientID(admin.ClientID(p.Kafka.ClientID, adm.URL()))}})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error { return adm.Serve(gctx, r.Ready) })
	if err := g.Wait(); err != nil {
		log.Error("sink", "err", err)
		return 1
	}
	return 0
}

// listenAdmin binds the admin endpoints: the connector's listen, or the
// default address with its free-port fallback, secured as the admin block
// says.
func listenAdmin(p *config.Pipeline, c *config.Connector, reg *prometheus.Registry, log *slog.Logger) (*admin.Server, error) {
	o := admin.Options{Listen: c.Listen, Default: config.DefaultSinkListen, Registry: reg, Log: log, Public: publicReason}
	if t := p.Admin.TLS; t != nil {
		o.CertFile, o.KeyFile = t.CertFile, t.KeyFile
	}
	if p.Admin.Token.IsSet() {
		tok, err := p.Admin.Token.Resolve()
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		o.Token = tok
	}
	return admin.Listen(o)
}

// publicReason names, in words anyone may read, why the sink is not ready
// (admin.Options.Public): the kind of failure, from the start of the
// Runner's reason, never the rest, which may name the destination's
// address or quote its answer. A reason it does not know gets no words.
func publicReason(reason string) string {
	if strings.HasPrefix(reason, "not yet assigned") {
		return "no partitions assigned yet"
	}
	// "partition N: <operation>: <error>"
	_, rest, ok := strings.Cut(reason, ": ")
	if !ok || !strings.HasPrefix(reason, "partition ") {
		return ""
	}
	for _, k := range []struct{ prefix, words string }{
		{"write: ", "destination failing"},
		{"dead-letter produce: ", "dead-letter topic failing"},
		{"read rejected records again: ", "dead-letter topic failing"},
		{"commit: ", "offset commit failing"},
		{"fetch committed offset: ", "offset fetch failing"},
	} {
		if strings.HasPrefix(rest, k.prefix) {
			return k.words
		}
	}
	return "a partition makes no progress"
}

// writer builds the connector's destination writer and checks, before any
// record is consumed, that the destination can be written.
func writer(ctx context.Context, c *config.Connector, reg prometheus.Registerer, log *slog.Logger) (sink.Writer, error) {
	switch c.Type {
	case config.TypeS3:
		w, err := s3sink.New(ctx, s3sink.Options{Connector: c, Log: log, Registerer: reg})
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := w.Check(cctx); err != nil {
			return nil, err
		}
		return w, nil
	case config.TypeDatadog:
		return ddsink.New(ddsink.Options{Connector: c, Log: log, Registerer: reg})
	}
	return nil, fmt.Errorf("unknown connector type %q", c.Type)
}

func verify(ctx context.Context, c *config.Connector, stdout, stderr io.Writer, log *slog.Logger) int {
	if c.Type != config.TypeS3 {
		fmt.Fprintf(stderr, "sink verify: connector %s is %s; verify checks S3 connectors\n", c.ID, c.Type)
		return 2
	}
	w, err := s3sink.New(ctx, s3sink.Options{Connector: c, Log: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	rep, err := w.Verify(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	if !rep.OK() {
		return 1
	}
	return 0
}
