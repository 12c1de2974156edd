// Command router routes audit events from audit.events to one topic per
// connector, exactly once, applying each connector's filter.
//
// Exit codes: 0 ok; 1 runtime failure; 2 bad usage or configuration;
// backfill also 3 (no live start recorded yet) and 4 (interrupted).
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
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/router/internal/route"
	"github.com/auditstream/auditstream/router/internal/topics"
	"github.com/auditstream/auditstream/service/admin"
	"github.com/auditstream/auditstream/service/buildinfo"
)

const usage = `router routes audit events from audit.events to one topic per connector,
exactly once (Kafka transactions), applying each connector's filter.

Usage:
  router run      --config FILE   route until SIGINT/SIGTERM; SIGHUP reloads the connectors
  router setup    --config FILE   create the pipeline's topics that are missing
  router validate --config FILE   check the router's part of a pipeline file and say what each connector receives
  router backfill --config FILE --connector ID --from T [--to T2] [--rate N] [--json]
                                  send a newly added connector the events from before it was
                                  added, exactly once ('router backfill --help')

Exit codes: 0 ok; 1 runtime failure; 2 bad usage or configuration;
backfill: 3 no live start recorded yet (run again later); 4 interrupted (run again to resume).
`

const backfillUsage = `router backfill sends a connector that was added to a running pipeline the events of
the events topic from before it was added, within the topic's retention, exactly once.

It applies the connector's filter exactly as the router does, and writes only to the
connector's topic (records the router dead-lettered are not dead-lettered again). It stops,
per partition, where the router recorded that the connector's live routing began, so nothing
the router sent is sent twice. It can be interrupted at any point and run again: it resumes
where its last transaction ended, and a run after a complete one sends nothing.

Usage:
  router backfill --config FILE --connector ID --from T [--to T2] [--rate N] [--json]

  T, T2   RFC3339 times (2026-11-29T08:00:00Z); --from also takes 'earliest'
          (the start of the retained log). Without --to, up to the live start.

Example:
  # add connector s3-new to pipeline.yaml, reload the router (kill -HUP), then:
  router backfill --config pipeline.yaml --connector s3-new --from 2026-11-22T00:00:00Z

Progress, with an ETA, goes to stderr; the summary to stdout (--json for a script).
Exit codes: 0 done; 1 failure; 2 bad usage or configuration; 3 no live start recorded
yet for some partition (the router has not run since the connector was added: run it
again later); 4 interrupted (what was sent is committed: run it again to resume).
`

// defaultMemoryLimit is the router's soft memory limit (runtime/debug).
const defaultMemoryLimit = 120 << 20

func main() {
	// The router keeps little live data (a poll's records, the producer's
	// buffer) and churns through a lot, so Go's heap target (twice the live
	// heap) let its peak RSS wander between 120 and 180 MiB draining a
	// backlog. A soft memory limit makes the collector work harder only
	// near it: peaks stay near 125 MiB for about 10% more CPU, where
	// GOGC=50 cost 15% and a tenth of the throughput (make bench,
	// scenarios 3 and 4). GOMEMLIMIT, when set, wins; raise it for a
	// pipeline with many connectors.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
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
	if buildinfo.Asked("router", args, stdout) {
		return 0
	}
	cmd := args[0]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "backfill":
		return backfillCmd(ctx, args[1:], stdout, stderr, log)
	case "run", "setup", "validate":
	default:
		fmt.Fprintf(stderr, "router: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "pipeline.yaml", "pipeline file")
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	p, err := config.Load(*path)
	if err == nil {
		err = p.CheckSecrets(routerSecrets(cmd))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cmd != "validate" {
		if err := p.Kafka.CheckAccess(ctx, log); err != nil {
			fmt.Fprintln(stderr, "router:", err)
			return 2
		}
	}
	switch cmd {
	case "validate":
		describe(stdout, p)
		return 0
	case "setup":
		err = setup(ctx, p, log)
	default:
		err = serve(ctx, *path, p, log)
	}
	if err != nil {
		log.Error(cmd, "err", err)
		// A topic that cannot keep an acknowledged event is a
		// configuration error, like a bad file.
		if errors.As(err, new(*topics.DurabilityError)) {
			return 2
		}
		return 1
	}
	return 0
}

// routerSecrets are the secrets the router's command uses: the Kafka
// connection's, and the admin token where it serves the admin endpoints.
// The router reads no destination block, so it holds no connector's
// secret.
func routerSecrets(cmd string) config.SecretScope {
	return config.SecretScope{Kafka: true, Admin: cmd == "run"}
}

// describe prints, in words, what each connector will receive.
func describe(w io.Writer, p *config.Pipeline) {
	// The router loads no destination: their blocks and secrets are the
	// sinks', which auditctl validate checks.
	fmt.Fprintf(w, "%s: ok for the router (Kafka, topics, router, filters); check the connectors' destinations and secrets with auditctl validate\n", p.Path)
	fmt.Fprintf(w, "router: group %s reads %s, commits every %v; bad records go to %s\n",
		p.Router.Group, p.Topics.Events.Name, p.Router.CommitInterval.D(), p.Topics.DLQ.Name)
	fmt.Fprintf(w, "router: records where each connector's live routing began (for backfill) in %s\n", p.Topics.State.Name)
	for _, c := range p.Connectors {
		fmt.Fprintf(w, "\nconnector %s (%s) -> topic %s, sink group %s\n", c.ID, c.Type, p.ConnectorTopic(c.ID), p.ConnectorGroup(c.ID))
		for _, line := range strings.Split(filter.Describe(c.Filter), "\n") {
			fmt.Fprintf(w, "  receives %s\n", line)
		}
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
	specs := topics.ForPipeline(p)
	created, err := topics.Ensure(ctx, kadm.NewClient(cl), specs)
	if err != nil {
		return err
	}
	warnings, err := topics.Check(ctx, cl, specs)
	for _, w := range warnings {
		log.Warn(w)
	}
	if err != nil {
		return err
	}
	log.Info("topics ready", "created", created)
	return nil
}

// serve runs the router: the routing loop, the admin endpoints, and the
// SIGHUP reloader, until ctx ends or one of them fails.
func serve(ctx context.Context, path string, p *config.Pipeline, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	adm, err := listenAdmin(p, reg, log)
	if err != nil {
		return err
	}
	defer adm.Close()
	// The client id advertises the admin address to auditctl (admin.ClientID).
	r, err := route.New(route.Options{Pipeline: p, Log: log, Registerer: reg,
		KafkaOpts: []kgo.Opt{kgo.ClientID(admin.ClientID(p.Kafka.ClientID, adm.URL()))}})
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(ctx) })
	g.Go(func() error { return adm.Serve(ctx, r.Ready) })
	g.Go(func() error { reloadOnHUP(ctx, path, r, log); return nil })
	return g.Wait()
}

// listenAdmin binds the admin endpoints: router.listen, or the default
// address with its free-port fallback, secured as the admin block says.
func listenAdmin(p *config.Pipeline, reg *prometheus.Registry, log *slog.Logger) (*admin.Server, error) {
	o := admin.Options{Listen: p.Router.Listen, Default: config.DefaultRouterListen, Registry: reg, Log: log, Public: publicReason}
	var err error
	if o.CertFile, o.KeyFile, o.Token, err = p.Admin.Serving(); err != nil {
		return nil, err
	}
	return admin.Listen(o)
}

// publicReason names, in words anyone may read, why the router is not
// ready (admin.Options.Public): the kind of failure, never the error,
// which may name brokers or topics.
func publicReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, "not yet assigned"):
		return "not joined its group yet"
	case strings.Contains(reason, "transactions in a row aborted"):
		return "transactions aborting"
	case strings.HasPrefix(reason, route.WaitingPrefix):
		return "waiting for Kafka"
	}
	return "routing failed"
}

// reloadOnHUP reloads the pipeline file on SIGHUP. An invalid file is
// rejected and the running config stays in force.
func reloadOnHUP(ctx context.Context, path string, r *route.Runner, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		p, err := config.Load(path)
		if err == nil {
			err = p.CheckSecrets(routerSecrets("run"))
		}
		if err != nil {
			log.Error("config reload rejected; the previous config stays in force", "file", path, "err", err)
			continue
		}
		if err := r.Reload(ctx, p); err != nil {
			log.Error("config reload failed; the previous config stays in force", "file", path, "err", err)
		}
	}
}
