// Command chaos runs the whole pipeline on the local stack (Kafka, MinIO, an
// in-process Datadog intake test server), feeds it good and bad input, injects
// a seed's faults, drains it, and checks from the outside that nothing was
// lost, archived twice or delivered where its filter says it must not go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"github.com/auditstream/auditstream/chaos/internal/check"
	"github.com/auditstream/auditstream/chaos/internal/fault"
	"github.com/auditstream/auditstream/chaos/internal/fleet"
	"github.com/auditstream/auditstream/chaos/internal/plan"
	"github.com/auditstream/auditstream/chaos/internal/probe"
	"github.com/auditstream/auditstream/chaos/internal/report"
	"github.com/auditstream/auditstream/chaos/internal/workload"
	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/ddintake"
)

const usage = `chaos runs the pipeline under faults and checks what it delivered.

Usage: chaos [flags]

It needs the local stack (stack/up.sh) and its env file in the environment
(AUDITSTREAM_BROKERS, AUDITSTREAM_S3_*), the built commands (make build), and
kcat. It prints its seed first; --seed replays a run's plan and input.
Everything it writes goes under --dir: the pipeline file, the input chunks,
each replica's log, the outputs of the stack scripts and auditctl, and
result.json.

Exit: 0 pass; 1 a check failed (loss, S3 duplicate, leak, dead letter
missing or with the wrong reason, verify, no drain); 2 usage or setup.

Flags:
`

// The Datadog API key the sinks send and the intake accepts.
const apiKeyEnv = "CHAOS_DD_API_KEY"

type options struct {
	seed      uint64
	short     bool
	events    int
	window    time.Duration
	bin       string
	stackDir  string
	stack     string
	dir       string
	kcat      string
	asJSON    bool
	drainWait time.Duration
	planOnly  bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o, err := parse(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if o.planOnly {
		var ids []string
		for _, c := range connectors("RUN") {
			ids = append(ids, c.id)
		}
		printPlan(os.Stdout, makePlan(o, ids))
		os.Exit(0)
	}
	res, err := run(ctx, o, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: seed %d: %v\n", o.seed, err)
		os.Exit(2)
	}
	if o.asJSON {
		_ = res.JSON(os.Stdout)
	} else {
		res.Table(os.Stdout)
	}
	if !res.OK() {
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	seed := fs.Uint64("seed", 0, "the seed of the plan and the input (default: a random one, printed)")
	fs.BoolVar(&o.short, "short", false, "the short variant: 30,000 events, every fault once over 90 s")
	fs.IntVar(&o.events, "events", 0, "good events to publish (default 300000, or 30000 with --short)")
	fs.DurationVar(&o.window, "window", 0, "how long faults are injected and input is published (default 5m, or 90s with --short)")
	fs.StringVar(&o.bin, "bin", "bin", "directory of the built commands (router, sink, auditctl, producer)")
	fs.StringVar(&o.stackDir, "stack-dir", os.Getenv("STACK_DIR"), "the stack's STACK_DIR (default $STACK_DIR, else $AUDITSTREAM_STACK_DIR)")
	fs.StringVar(&o.stack, "stack", "stack", "directory of the stack scripts")
	fs.StringVar(&o.dir, "dir", "", "where the run writes its files (default $STACK_DIR/chaos/<run id>)")
	fs.StringVar(&o.kcat, "kcat", "kcat", "the kcat command")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON instead of tables")
	fs.DurationVar(&o.drainWait, "drain-timeout", 3*time.Minute, "give up waiting for the pipeline to drain after this long")
	fs.BoolVar(&o.planOnly, "plan", false, "print the seed's plan and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.seed = *seed
	if o.seed == 0 {
		o.seed = rand.Uint64() % 1_000_000_000
	}
	if o.events == 0 {
		o.events = map[bool]int{false: 300_000, true: 30_000}[o.short]
	}
	if o.window == 0 {
		o.window = map[bool]time.Duration{false: 300 * time.Second, true: 90 * time.Second}[o.short]
	}
	if o.stackDir == "" {
		o.stackDir = os.Getenv("AUDITSTREAM_STACK_DIR")
	}
	if o.stackDir == "" && !o.planOnly {
		return o, errors.New("no stack: set STACK_DIR (or source the stack's env file)")
	}
	return o, nil
}

// connector is one connector of the run's pipeline.
type connector struct {
	id, typ string
	filter  map[string]any
}

// connectors overlap on purpose: every event goes to some of them, many to
// several, and the filters exercise includes, excludes, globs and the
// tenantless rule.
func connectors(run string) []connector {
	return []connector{
		{run + "-s3-all", "s3", map[string]any{"actions": map[string]any{"exclude": []string{"TokenRefreshed"}}, "tenantless": true}},
		{run + "-s3-big", "s3", map[string]any{
			"tenants": map[string]any{"include": []string{"T000*", "T001*"}, "exclude": []string{"T0005"}},
			"actions": map[string]any{"include": []string{"Login*", "User*", "AccessKey*", "Password*", "TokenRefreshed"}}}},
		{run + "-dd-sec", "datadog", map[string]any{
			"tenants": map[string]any{"include": []string{"T00*"}, "exclude": []string{"T0003"}},
			"actions": map[string]any{"include": []string{"Login*", "Password*", "AccessKey*", "PermissionDenied", "User*"}}}},
		{run + "-dd-ops", "datadog", map[string]any{
			"tenants": map[string]any{"exclude": []string{"T000[1-4]"}},
			"actions": map[string]any{"exclude": []string{"Login*", "TokenRefreshed"}}}},
	}
}

// stackEnv is what the stack's env file says.
type stackEnv struct {
	brokers            []string
	s3Endpoint, ak, sk string
}

func readStackEnv() (stackEnv, error) {
	e := stackEnv{
		brokers:    strings.Split(os.Getenv("AUDITSTREAM_BROKERS"), ","),
		s3Endpoint: os.Getenv("AUDITSTREAM_S3_ENDPOINT"),
		ak:         os.Getenv("AUDITSTREAM_S3_ACCESS_KEY_FILE"),
		sk:         os.Getenv("AUDITSTREAM_S3_SECRET_KEY_FILE"),
	}
	if e.brokers[0] == "" || e.s3Endpoint == "" || e.ak == "" || e.sk == "" {
		return e, errors.New("AUDITSTREAM_BROKERS and AUDITSTREAM_S3_* are not all set: source the stack's env file")
	}
	return e, nil
}

func run(ctx context.Context, o options, log *slog.Logger) (*report.Result, error) {
	began := time.Now()
	fmt.Fprintf(os.Stderr, "chaos: seed %d (rerun with --seed %d%s)\n", o.seed, o.seed, map[bool]string{true: " --short"}[o.short])
	env, err := readStackEnv()
	if err != nil {
		return nil, err
	}
	runID := fmt.Sprintf("chaos%s", time.Now().UTC().Format("0102150405"))
	if o.dir == "" {
		o.dir = filepath.Join(o.stackDir, "chaos", runID)
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	bin := func(name string) string { return filepath.Join(o.bin, name) }
	fmt.Fprintf(os.Stderr, "chaos: run %s, files in %s\n", runID, o.dir)

	// The intake test server, in process: its logs are the Datadog side of
	// the checks.
	intake := ddintake.New(ddintake.Options{APIKeys: []string{"chaos-" + runID}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("intake listener: %w", err)
	}
	srv := &http.Server{Handler: intake, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	os.Setenv(apiKeyEnv, "chaos-"+runID)

	// The pipeline file.
	cs := connectors(runID)
	bucket := runID
	cfgPath := filepath.Join(o.dir, "pipeline.yaml")
	if err := writePipeline(cfgPath, runID, bucket, env, "http://"+ln.Addr().String(), cs); err != nil {
		return nil, err
	}
	pipe, err := config.Load(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("load the run's pipeline: %w", err)
	}
	s3c, err := s3Client(env)
	if err != nil {
		return nil, err
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if out, err := exec.CommandContext(ctx, bin("router"), "setup", "--config", cfgPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("router setup: %w: %s", err, out)
	}

	// The input, and its ledger.
	chunks := map[bool]int{false: 30, true: 10}[o.short]
	wl, err := workload.Make(ctx, workload.Options{
		Producer: bin("producer"), Seed: o.seed, Events: o.events, Chunks: chunks,
		BadPerChunk: map[bool]int{false: 4, true: 2}[o.short], OversizeBytes: 1_200_000, Dir: o.dir,
	})
	if err != nil {
		return nil, err
	}
	res := &report.Result{Seed: o.seed, Short: o.short, RunID: runID, Dir: o.dir, Events: len(wl.Events), Bad: len(wl.Bad), Methods: map[string]int{}}
	for _, c := range wl.Chunks {
		res.Methods[string(c.Method)] += len(c.Events)
	}

	// The replicas: 2 routers, 2 sinks per connector.
	pr, err := probe.New(env.brokers)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	fl := fleet.New(o.dir, log)
	defer fl.Close(30 * time.Second)
	for i := range routers {
		if err := fl.Start(fleet.Spec{Name: fmt.Sprintf("router/%d", i), Bin: bin("router"), Args: []string{"run", "--config", cfgPath}}); err != nil {
			return nil, err
		}
	}
	sinkSpec := func(id string, n int) fleet.Spec {
		return fleet.Spec{Name: fmt.Sprintf("sink/%s/%d", id, n), Bin: bin("sink"), Args: []string{"run", "--config", cfgPath, "--connector", id}}
	}
	ids := make([]string, 0, len(cs))
	groups := map[string]probe.Group{}
	types := map[string]string{}
	for _, c := range cs {
		ids = append(ids, c.id)
		groups[c.id] = probe.Group{Name: pipe.ConnectorGroup(c.id), Topic: pipe.ConnectorTopic(c.id), Transactional: true}
		types[c.id] = c.typ
		for n := range replicas {
			if err := fl.Start(sinkSpec(c.id, n)); err != nil {
				return nil, err
			}
		}
	}
	routerGroup := probe.Group{Name: pipe.Router.Group, Topic: pipe.Topics.Events.Name}

	steps := makePlan(o, ids)
	printPlan(os.Stderr, steps)

	gate := &sync.RWMutex{}
	in := &fault.Injector{Fleet: fl, Probe: pr, Intake: intake, Stack: o.stack, StackDir: o.stackDir,
		Auditctl: bin("auditctl"), Config: cfgPath, Gate: gate, Router: routerGroup, Groups: groups, Types: types,
		SinkSpec: sinkSpec, Log: log, Dir: o.dir}
	pubLog, err := os.Create(filepath.Join(o.dir, "publish.log"))
	if err != nil {
		return nil, fmt.Errorf("publish log: %w", err)
	}
	defer pubLog.Close()
	pub := workload.Publisher{Producer: bin("producer"), Kcat: o.kcat, Brokers: strings.Join(env.brokers, ","),
		Topic: pipe.Topics.Events.Name, Dir: o.dir, Log: pubLog}

	// Faults and input run side by side, each on its own schedule.
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	res.Faults = make([]report.Fault, len(steps))
	for i, s := range steps {
		wg.Go(func() {
			sleepUntil(ctx, start.Add(s.At))
			f := in.Inject(ctx, s)
			mu.Lock()
			res.Faults[i] = f
			mu.Unlock()
		})
	}
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		every := o.window * 9 / 10 / time.Duration(len(wl.Chunks))
		for i, c := range wl.Chunks {
			sleepUntil(ctx, start.Add(time.Duration(i)*every))
			gate.RLock()
			err := pub.Publish(ctx, i, c)
			gate.RUnlock()
			if err != nil {
				log.Error("publish", "chunk", i, "err", err)
				mu.Lock()
				res.Errors = append(res.Errors, fmt.Sprintf("publish chunk %d (%s): %v", i, c.Method, err))
				mu.Unlock()
			}
		}
		log.Info("input published", "events", len(wl.Events), "bad", len(wl.Bad))
	}()
	<-pubDone
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if res.InTopic, err = pr.Records(ctx, pipe.Topics.Events.Name); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}

	// Drain: the router's group first (its input is not transactional, so
	// its end is exact), then every sink group, stable for a few seconds.
	drainStart := time.Now()
	res.Drained = drain(ctx, pr, routerGroup, groups, o.drainWait, log)
	res.DrainTime = time.Since(drainStart)
	res.Crashes = fl.Crashes()
	fl.Close(30 * time.Second)

	// The checks, from the outside.
	var bad []check.BadRecord
	for _, b := range wl.Bad {
		bad = append(bad, check.BadRecord{Key: b.Key, Kind: b.Kind, Reason: b.Reason})
	}
	for _, c := range cs {
		pc, _ := pipe.Connector(c.id)
		rule, err := filter.New(pc.Filter)
		if err != nil {
			return nil, fmt.Errorf("filter of %s: %w", c.id, err)
		}
		want := map[string]bool{}
		for _, e := range wl.Events {
			if rule.Match(e.Meta) {
				want[e.ID] = true
			}
		}
		var got map[string]int
		switch c.typ {
		case "s3":
			var objects int
			got, objects, err = check.ReadS3(ctx, s3c, bucket, c.id)
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
			}
			log.Info("read the archive", "connector", c.id, "objects", objects)
		default:
			got = map[string]int{}
			for _, l := range intake.Logs() {
				if l.Service != c.id {
					continue
				}
				id, err := check.IDOf(l.Message)
				if err != nil {
					res.Errors = append(res.Errors, fmt.Sprintf("intake log %d: %v", l.ID, err))
					continue
				}
				got[id]++
			}
		}
		d := check.Compare(c.id, c.typ, want, got)
		if c.typ == "s3" {
			out, err := exec.CommandContext(ctx, bin("sink"), "verify", "--config", cfgPath, "--connector", c.id).CombinedOutput()
			_ = os.WriteFile(filepath.Join(o.dir, "verify-"+c.id+".out"), out, 0o644)
			ok := err == nil
			d.VerifyOK = &ok
			if !ok {
				d.VerifyError = fmt.Sprintf("%v (output in verify-%s.out)", err, c.id)
			}
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	dls, err := check.ReadDLQ(ctx, env.brokers, pipe.Topics.DLQ.Name, 5*time.Second)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.DLQ = check.CompareDLQ(bad, dls)
	res.Elapsed = time.Since(began)
	res.Judge()
	if res.OK() {
		// A passing run's topics are of no further use; a failing run's
		// stay, with the bucket and the run directory, for inspection.
		topics := []string{pipe.Topics.Events.Name, pipe.Topics.DLQ.Name}
		for _, c := range cs {
			topics = append(topics, pipe.ConnectorTopic(c.id))
		}
		if _, err := pr.Admin().DeleteTopics(ctx, topics...); err != nil {
			log.Warn("delete the run's topics", "err", err)
		}
	}
	if f, err := os.Create(filepath.Join(o.dir, "result.json")); err == nil {
		_ = res.JSON(f)
		f.Close()
	}
	return res, nil
}

// The pipeline's replicas at start.
const routers, replicas = 2, 2

func makePlan(o options, ids []string) []plan.Step {
	return plan.Make(o.seed, plan.Options{Window: o.window, Kills: map[bool]int{false: 4, true: 1}[o.short],
		Storms: map[bool]int{false: 2, true: 1}[o.short], Routers: routers, Connectors: ids, Replicas: replicas})
}

func printPlan(w io.Writer, steps []plan.Step) {
	fmt.Fprintln(w, "chaos: plan")
	for _, s := range steps {
		fmt.Fprintln(w, "  "+s.String())
	}
}

// drain waits until every group has consumed its topic, and stays so for
// a few seconds.
func drain(ctx context.Context, pr *probe.Probe, router probe.Group, groups map[string]probe.Group, limit time.Duration, log *slog.Logger) bool {
	deadline := time.Now().Add(limit)
	var since time.Time
	last := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		var lags []string
		rs, err := pr.Read(ctx, router)
		routerDrained := err == nil && rs.Drained
		if !routerDrained {
			all = false
			lags = append(lags, fmt.Sprintf("%s=%d", router.Name, rs.Lag))
		}
		for _, g := range values(groups) {
			// Once the router is drained, every transaction is closed:
			// what a read_committed reader cannot get from the committed
			// offsets on is markers and aborted records.
			read := pr.Read
			if routerDrained {
				read = pr.Settled
			}
			s, err := read(ctx, g)
			if err != nil || !s.Drained {
				all = false
				lags = append(lags, fmt.Sprintf("%s=%d", g.Name, s.Lag))
			}
		}
		switch {
		case !all:
			since = time.Time{}
			if time.Since(last) > 10*time.Second {
				log.Info("draining", "lag", strings.Join(lags, " "))
				last = time.Now()
			}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) > 5*time.Second:
			return true
		}
		sleepUntil(ctx, time.Now().Add(time.Second))
	}
	return false
}

func values(m map[string]probe.Group) []probe.Group {
	out := make([]probe.Group, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	return out
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

func s3Client(e stackEnv) (*s3.Client, error) {
	ak, err := os.ReadFile(e.ak)
	if err != nil {
		return nil, fmt.Errorf("read the S3 access key file: %w", err)
	}
	sk, err := os.ReadFile(e.sk)
	if err != nil {
		return nil, fmt.Errorf("read the S3 secret key file: %w", err)
	}
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.s3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(strings.TrimSpace(string(ak)), strings.TrimSpace(string(sk)), "")}), nil
}

func writePipeline(path, run, bucket string, e stackEnv, ddURL string, cs []connector) error {
	var conns []map[string]any
	for _, c := range cs {
		m := map[string]any{"id": c.id, "type": c.typ, "filter": c.filter, "listen": "127.0.0.1:0"}
		switch c.typ {
		case "s3":
			m["batch"] = map[string]any{"max_events": 5000, "max_bytes": "8MiB", "max_age": "2s"}
			m["s3"] = map[string]any{"bucket": bucket, "prefix": c.id, "endpoint": e.s3Endpoint, "path_style": true,
				"credentials": map[string]any{"source": "static",
					"access_key_id":     map[string]any{"file": e.ak},
					"secret_access_key": map[string]any{"file": e.sk}}}
		default:
			m["batch"] = map[string]any{"max_age": "1s"}
			m["datadog"] = map[string]any{"url": ddURL, "api_key": map[string]any{"env": apiKeyEnv}, "service": c.id}
		}
		conns = append(conns, m)
	}
	doc := map[string]any{
		"kafka": map[string]any{"brokers": e.brokers, "client_id": run},
		"topics": map[string]any{
			"events":           map[string]any{"name": run + ".events", "partitions": 6},
			"dlq":              map[string]any{"name": run + ".dlq", "partitions": 3},
			"connector_prefix": run + ".connector.",
			"connector":        map[string]any{"partitions": 6},
		},
		"router":     map[string]any{"group": run + "-router", "commit_interval": "500ms", "listen": "127.0.0.1:0"},
		"connectors": conns,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode the pipeline: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write the pipeline: %w", err)
	}
	return nil
}
