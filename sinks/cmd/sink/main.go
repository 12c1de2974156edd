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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/admin"
	"github.com/auditstream/auditstream/service/kafkalog"
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
	w, closeWriter, err := writer(ctx, p, c, reg, log)
	if err != nil {
		log.Error("startup check failed; nothing consumed or committed", "err", err)
		return 2
	}
	defer closeWriter() // after the runner, which stops writing before Run returns
	r, err := sink.New(sink.Options{Pipeline: p, Connector: c, Writer: w, Log: log, Registerer: reg})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error { return admin.Serve(gctx, c.Listen, reg, r.Ready, log) })
	if err := g.Wait(); err != nil {
		log.Error("sink", "err", err)
		return 1
	}
	return 0
}

// writer builds the connector's destination writer and checks, before any
// record is consumed, that the destination can be written. An S3 writer
// also learns its topic's identity, and records heads in the heads topic:
// closeWriter releases its Kafka client.
func writer(ctx context.Context, p *config.Pipeline, c *config.Connector, reg prometheus.Registerer, log *slog.Logger) (w sink.Writer, closeWriter func(), err error) {
	switch c.Type {
	case config.TypeS3:
		return s3Writer(ctx, p, c, reg, log)
	case config.TypeDatadog:
		w, err := ddsink.New(ddsink.Options{Connector: c, Log: log, Registerer: reg})
		return w, func() {}, err
	}
	return nil, nil, fmt.Errorf("unknown connector type %q", c.Type)
}

func s3Writer(ctx context.Context, p *config.Pipeline, c *config.Connector, reg prometheus.Registerer, log *slog.Logger) (sink.Writer, func(), error) {
	base, err := p.Kafka.ClientOpts()
	if err != nil {
		return nil, nil, err
	}
	heads, err := s3sink.NewKafkaHeads(append(base, kgo.WithLogger(kafkalog.New(log))), p.Topics.Heads.Name)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	w, err := func() (*s3sink.Writer, error) {
		if err := heads.Check(cctx); err != nil {
			return nil, err
		}
		topic := p.ConnectorTopic(c.ID)
		id, err := s3sink.LearnIdentity(cctx, kadm.NewClient(heads.Client()), topic)
		if err != nil {
			return nil, err
		}
		log.Info("connector topic identity", "topic", topic, "topic_id", id.TopicID, "cluster_id", id.ClusterID)
		adm := kadm.NewClient(heads.Client())
		current := func(ctx context.Context) (s3sink.Identity, error) { return s3sink.LearnIdentity(ctx, adm, topic) }
		w, err := s3sink.New(ctx, s3sink.Options{Connector: c, Log: log, Registerer: reg, Topic: topic, Identity: id,
			CurrentIdentity: current, Heads: heads})
		if err != nil {
			return nil, err
		}
		return w, w.Check(cctx)
	}()
	if err != nil {
		heads.Close()
		return nil, nil, err
	}
	return w, heads.Close, nil
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
