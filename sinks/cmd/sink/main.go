// Command sink delivers one connector's events from its Kafka topic to the
// connector's destination (S3 or Datadog Logs), committing offsets only
// after the destination has durably accepted them.
//
// Exit codes: 0 ok; 1 runtime failure (or verify found problems); 2 bad
// usage or configuration, or a failed startup check.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/admin"
	"github.com/auditstream/auditstream/service/buildinfo"
	"github.com/auditstream/auditstream/service/kafkalog"
	"github.com/auditstream/auditstream/sinks/internal/conntest"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/pipeline"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

const usage = `sink delivers one connector's events to its destination (S3 or Datadog Logs).

Usage:
  sink run    --config FILE --connector ID   deliver until SIGINT/SIGTERM (flush, commit, leave)
  sink validate --config FILE --connector ID
      check the file and resolve what sink run of this connector needs (the Kafka
      connection's secrets, the admin token, the connector's own), and print the
      connector's effective batch limits; contacts nothing
  sink verify --config FILE --connector ID [--json] [--partition N,...]
              [--from YYYY-MM-DDTHH] [--to YYYY-MM-DDTHH] [--heads-topic NAME] [--bucket-only]
      check an S3 connector's archive: hashes, chain, manifests, versions and
      delete markers, reconciled offset by offset with its Kafka topic, the
      dead-letter topic and the chain heads recorded outside the bucket

Exit codes: 0 ok; 1 runtime failure or verify found problems; 2 bad usage,
configuration or startup check, or verify could not check.
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
	if buildinfo.Asked("sink", args, stdout) {
		return 0
	}
	cmd := args[0]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "verify", "validate":
	default:
		fmt.Fprintf(stderr, "sink: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if cmd == "verify" {
		return verify(ctx, args[1:], stdout, stderr, log)
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
	p, err := pipeline.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	c, ok := p.Connector(*id)
	if !ok {
		fmt.Fprintf(stderr, "sink: %s has no connector %q\n", p.Path, *id)
		return 2
	}
	// The sink holds its own connector's secrets and no other's.
	if err := p.CheckSecrets(config.SecretScope{Kafka: true, Admin: true, Connectors: []string{c.ID}}); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cmd == "validate" {
		// The limits are the file's, else the destination's defaults,
		// else the loader's: say which apply.
		b := c.Batch
		fmt.Fprintf(stdout, "%s: ok for sink %s (%s): batch max_events %d, max_bytes %d, max_age %v, buffer_bytes %d; group %s reads %s\n",
			p.Path, c.ID, c.Type, b.MaxEvents, int64(b.MaxBytes), b.MaxAge.D(), int64(b.BufferBytes), p.ConnectorGroup(c.ID), p.ConnectorTopic(c.ID))
		return 0
	}
	log = log.With("connector", c.ID)
	// A sink's live heap is bounded by batch.buffer_bytes (held records,
	// about four times their size once a batch is decoded), but Go's heap
	// target (twice the live heap) lets RSS wander far above it. A soft
	// memory limit makes the collector work harder only near it.
	// GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(c.Batch.BufferBytes))
	}
	if err := p.Kafka.CheckAccess(ctx, log); err != nil {
		log.Error("startup check failed; nothing consumed or committed", "err", err)
		return 2
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	adm, err := listenAdmin(p, c, reg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer adm.Close()
	// The admin endpoints serve from here on: not ready while the
	// destination is being checked (and waited for), then the runner's.
	var ready atomic.Pointer[admin.Ready]
	starting := admin.Ready(func() (bool, string) { return false, "waiting for the destination" })
	ready.Store(&starting)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Serve(gctx, func() (bool, string) { return (*ready.Load())() }) })
	g.Go(func() error {
		w, closeWriter, err := waitForWriter(gctx, p, c, reg, log, &ready)
		if err != nil {
			return startupError{err}
		}
		defer closeWriter() // after the runner, which stops writing before Run returns
		// The client id advertises the admin address to auditctl (admin.ClientID).
		r, err := sink.New(sink.Options{Pipeline: p, Connector: c, Writer: w, Log: log, Registerer: reg,
			KafkaOpts: []kgo.Opt{kgo.ClientID(admin.ClientID(p.Kafka.ClientID, adm.URL()))}})
		if err != nil {
			return startupError{err}
		}
		runnerReady := admin.Ready(r.Ready)
		ready.Store(&runnerReady)
		return r.Run(gctx)
	})
	if err := g.Wait(); err != nil {
		var se startupError
		if errors.As(err, &se) {
			log.Error("startup check failed; nothing consumed or committed", "err", se.err)
			return 2
		}
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
	var err error
	if o.CertFile, o.KeyFile, o.Token, err = p.Admin.Serving(); err != nil {
		return nil, err
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
	if strings.HasPrefix(reason, "waiting for the destination") {
		return "waiting for the destination"
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

// memoryLimit is the sink's soft memory limit for a buffer of buffer
// bytes: the records held, decoded, plus room for the Kafka client's
// fetches and the runtime.
func memoryLimit(buffer config.ByteSize) int64 {
	return 4*int64(buffer) + 64<<20
}

// startupError is a failed startup check: exit 2.
type startupError struct{ err error }

func (e startupError) Error() string { return e.err.Error() }

// waitForWriter builds the destination writer, waiting while the
// destination cannot be reached (connection refused, DNS, timeouts, 5xx):
// a destination outage at start is waited out, not-ready, like one later.
// An answer that settles it (a missing bucket, refused credentials, a
// store without conditional writes) fails at once.
func waitForWriter(ctx context.Context, p *config.Pipeline, c *config.Connector, reg prometheus.Registerer, log *slog.Logger,
	ready *atomic.Pointer[admin.Ready]) (sink.Writer, func(), error) {
	wait := time.Second
	for {
		// A failed attempt takes back the metrics it registered, so that
		// the next one can register them again.
		attempt := &undoRegisterer{Registerer: reg}
		w, closeWriter, err := writer(ctx, p, c, attempt, log)
		if err == nil {
			return w, closeWriter, nil
		}
		attempt.undo()
		if !destinationDown(err) || ctx.Err() != nil {
			return nil, nil, err
		}
		log.Warn("the destination cannot be reached; waiting for it before consuming", "err", err, "retry_in", wait)
		waiting := admin.Ready(func() (bool, string) { return false, "waiting for the destination: " + err.Error() })
		ready.Store(&waiting)
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// undoRegisterer registers into a Registerer and can unregister all it
// registered.
type undoRegisterer struct {
	prometheus.Registerer
	done []prometheus.Collector
}

func (u *undoRegisterer) Register(c prometheus.Collector) error {
	if err := u.Registerer.Register(c); err != nil {
		return err
	}
	u.done = append(u.done, c)
	return nil
}

func (u *undoRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := u.Register(c); err != nil {
			panic(err)
		}
	}
}

func (u *undoRegisterer) undo() {
	for _, c := range u.done {
		u.Registerer.Unregister(c)
	}
	u.done = nil
}

// destinationDown reports whether a startup check failed on the network or
// on a server error, which waiting may cure.
func destinationDown(err error) bool {
	if _, ok := conntest.Unreachable(err); ok {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
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
	heads, err := s3sink.NewKafkaHeads(append(base, kgo.WithLogger(kafkalog.New(log))), p.Topics.Heads)
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

// verify checks an S3 connector's archive. Exit codes: 0 clean, 1
// problems found, 2 could not check (bad usage or configuration, S3 or
// Kafka unreachable). It needs the connector's S3 secrets and the Kafka
// connection's, nothing else.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "pipeline.yaml", "pipeline file")
	id := fs.String("connector", "", "id of the connector")
	asJSON := fs.Bool("json", false, "write the report as JSON (default: text for a person)")
	partitions := fs.String("partition", "", "check only these partitions (comma-separated)")
	from := fs.String("from", "", "read only objects of this occurred hour (UTC, YYYY-MM-DDTHH) and later")
	to := fs.String("to", "", "read only objects of this occurred hour (UTC, YYYY-MM-DDTHH) and earlier")
	headsTopic := fs.String("heads-topic", "", "the compacted topic of chain heads (default: the pipeline's topics.heads)")
	bucketOnly := fs.Bool("bucket-only", false, "check the bucket alone, without Kafka (no reconciliation, no heads)")
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var opts s3sink.VerifyOptions
	opts.Progress = stderr
	for _, s := range strings.Split(*partitions, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "sink verify: bad --partition %q\n", s)
			return 2
		}
		opts.Partitions = append(opts.Partitions, int32(n))
	}
	for _, h := range []struct {
		flag string
		v    string
		t    *time.Time
	}{{"from", *from, &opts.From}, {"to", *to, &opts.To}} {
		if h.v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02T15", h.v)
		if err != nil {
			fmt.Fprintf(stderr, "sink verify: bad --%s %q: want the hour as YYYY-MM-DDTHH (UTC)\n", h.flag, h.v)
			return 2
		}
		*h.t = t
	}
	p, err := pipeline.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	c, ok := p.Connector(*id)
	if !ok {
		fmt.Fprintf(stderr, "sink: %s has no connector %q\n", p.Path, *id)
		return 2
	}
	if c.Type != config.TypeS3 {
		fmt.Fprintf(stderr, "sink verify: connector %s is %s; verify checks S3 connectors\n", c.ID, c.Type)
		return 2
	}
	if err := p.CheckSecrets(config.SecretScope{Kafka: !*bucketOnly, Connectors: []string{c.ID}}); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log = log.With("connector", c.ID)
	w, err := s3sink.New(ctx, s3sink.Options{Connector: c, Log: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if !*bucketOnly {
		kopts, err := p.Kafka.ClientOpts()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		opts.Kafka, err = s3sink.ReadKafka(ctx, s3sink.KafkaSource{
			Opts: kopts, Connector: c.ID, Topic: p.ConnectorTopic(c.ID), DLQ: p.Topics.DLQ.Name,
			Heads: cmp.Or(*headsTopic, p.Topics.Heads.Name), Group: p.ConnectorGroup(c.ID), Partitions: opts.Partitions, Progress: stderr,
		})
		if err != nil {
			fmt.Fprintf(stderr, "sink verify: could not read Kafka: %v\n", err)
			return 2
		}
	}
	rep, err := w.VerifyWith(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "sink verify: could not check: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sink verify: write report: %v\n", err)
		return 2
	}
	switch {
	case rep.OK():
		return 0
	case onlyUnchecked(rep):
		return 2 // nothing wrong found, but part of it could not be read
	}
	return 1
}

// onlyUnchecked reports whether every problem of the report says that
// something could not be checked.
func onlyUnchecked(r *s3sink.Report) bool {
	ps := slices.Clone(r.BucketProblems)
	for _, p := range r.Partitions {
		ps = append(ps, p.Problems...)
	}
	for _, g := range r.Generations {
		for _, p := range g.Partitions {
			ps = append(ps, p.Problems...)
		}
	}
	for _, p := range ps {
		if p.Kind != s3sink.ProblemUnchecked {
			return false
		}
	}
	return len(ps) > 0
}
