package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/passthrough"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/produce"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/route"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// measure connects to the brokers, runs the scenario f, prints its results
// to stdout, and removes the topics and groups f created, also when f
// fails.
func measure(ctx context.Context, c *common, stdout io.Writer, log *slog.Logger, f func(*cluster.Cluster) ([]report.Result, error)) error {
	brokers, err := c.brokerList()
	if err != nil {
		return err
	}
	cl, err := cluster.New(brokers, log)
	if err != nil {
		return err
	}
	// Cleanup runs after a SIGINT too, so it must not use the ended ctx.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		cl.Cleanup(cctx)
	}()
	return c.profiled(func() error {
		rs, err := f(cl)
		if err != nil {
			return err
		}
		return c.emit(stdout, rs...)
	})
}

func produceCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	events := fs.Int("events", 1_000_000, "events per run")
	rounds := fs.Int("rounds", 2, "runs of each side, alternating; the best counts")
	return func(ctx context.Context) error {
		pool, err := c.newPool(*events)
		if err != nil {
			return err
		}
		return measure(ctx, &c, stdout, log, func(cl *cluster.Cluster) ([]report.Result, error) {
			res, err := produce.Throughput(ctx, produce.ThroughputOptions{Cluster: cl, Pool: pool, Events: *events, Rounds: *rounds, Log: log})
			return []report.Result{res}, err
		})
	}
}

func latencyCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	rate := fs.Float64("rate", 0, "calls per second (or use --rate-from)")
	from := fs.String("rate-from", "", "a `bench produce --json` result (or a report): the rates are --fractions of its raw throughput")
	fractions := fs.String("fractions", "0.5", "shares of the raw throughput to publish at, with --rate-from")
	secs := fs.Duration("duration", 20*time.Second, "how long each side publishes at each rate")
	return func(ctx context.Context) error {
		var loads []produce.Load
		if *rate > 0 {
			loads = append(loads, produce.Load{Rate: *rate, Label: "fixed"})
		}
		if *from != "" {
			raw, err := rawThroughput(*from)
			if err != nil {
				return err
			}
			for _, f := range strings.Split(*fractions, ",") {
				x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || x <= 0 {
					return usageError{fmt.Sprintf("bad fraction %q", f)}
				}
				loads = append(loads, produce.Load{Rate: raw * x, Label: fmt.Sprintf("%.0f%% of raw", x*100)})
			}
		}
		if len(loads) == 0 {
			return usageError{"set --rate or --rate-from"}
		}
		pool, err := c.newPool(c.pool)
		if err != nil {
			return err
		}
		return measure(ctx, &c, stdout, log, func(cl *cluster.Cluster) ([]report.Result, error) {
			res, err := produce.Latency(ctx, produce.LatencyOptions{Cluster: cl, Pool: pool, Loads: loads, Duration: *secs, Log: log})
			return []report.Result{res}, err
		})
	}
}

// rawThroughput reads the raw franz-go rate from a throughput result.
func rawThroughput(path string) (float64, error) {
	rs, err := readResults(path)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		if r.Scenario == produce.ThroughputScenario && len(r.Figures) > 0 && r.Figures[0].Raw > 0 {
			return r.Figures[0].Raw, nil
		}
	}
	return 0, fmt.Errorf("%s: no raw throughput in it", path)
}

func routeCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	events := fs.Int("events", 1_000_000, "events in the backlog")
	rounds := fs.Int("rounds", 3, "drains by the default router and by the fan-out passthrough; the best of each counts")
	routerBin := fs.String("router", "", "the router binary (required)")
	sweep := fs.String("sweep", "100ms,1s", "commit intervals to try besides the default")
	brokerPID := fs.Int("broker-pid", 0, "the broker's process id, to report its CPU time too")
	logDir := fs.String("logdir", "", "where the runs' logs and pipeline files go (default: a temporary directory)")
	profRouter := fs.String("profile-router", "", "a router built with a pprof endpoint (run.sh with BENCH_PROFILE=1): profile one more default drain")
	profDir := fs.String("profile-dir", ".", "where the router's profiles go")
	return func(ctx context.Context) error {
		if *routerBin == "" {
			return usageError{"--router is required"}
		}
		intervals, err := durations(*sweep)
		if err != nil {
			return err
		}
		self, dir, err := selfAndLogDir(*logDir)
		if err != nil {
			return err
		}
		pool, err := c.newPool(*events)
		if err != nil {
			return err
		}
		return measure(ctx, &c, stdout, log, func(cl *cluster.Cluster) ([]report.Result, error) {
			return route.Run(ctx, route.Options{
				Cluster: cl, Pool: pool, Events: *events, Rounds: *rounds, RouterBin: *routerBin, Self: self,
				Sweep: intervals, ProfileRouter: *profRouter, ProfileDir: *profDir,
				BrokerPID: *brokerPID, LogDir: dir, Procs: procstat.NewReader(), Log: log,
			})
		})
	}
}

func pipeCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.registerBrokers(fs)
	from := fs.String("from", "", "topic to drain")
	group := fs.String("group", "", "consumer group")
	to := fs.String("to", "", "copy every record to this topic")
	toConns := fs.String("to-connectors", "", "route by the benchmark connectors' filters to PREFIX<connector id>")
	fetchMax := fs.Int("fetch-max-bytes", 16<<20, "bytes per fetch")
	fetchPart := fs.Int("fetch-max-partition-bytes", 4<<20, "bytes per partition per fetch")
	return func(ctx context.Context) error {
		brokers, err := c.brokerList()
		if err != nil {
			return err
		}
		if *from == "" || *group == "" || (*to != "" && *toConns != "") {
			return usageError{"want --from, --group, and at most one of --to and --to-connectors (neither: consume only)"}
		}
		var dst passthrough.Route
		switch {
		case *to != "":
			dst = passthrough.To(*to)
		case *toConns != "":
			dst = workload.Route(*toConns)
		}
		counts, err := passthrough.Drain(ctx, passthrough.Options{Brokers: brokers, From: *from, Group: *group, Route: dst,
			FetchMaxBytes: int32(*fetchMax), FetchMaxPartitionBytes: int32(*fetchPart), Log: log})
		if err != nil {
			return err
		}
		// Like the router, stay up until told to stop: the benchmark reads
		// this process's resource use once it sees the offsets committed.
		log.Info("drained; waiting for SIGTERM", "in", counts.In, "out", counts.Out)
		<-ctx.Done()
		if err := json.NewEncoder(stdout).Encode(counts); err != nil {
			return fmt.Errorf("print counts: %w", err)
		}
		return nil
	}
}

func reportCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	out := fs.String("out", "", "write the gathered report here as JSON")
	md := fs.String("markdown", "", "write the report here as Markdown (BENCHMARKS.md)")
	scale := fs.Float64("scale", 1, "the BENCH_SCALE of the run, for the record")
	started := fs.String("started", "", "when the run started (RFC 3339; default now)")
	command := fs.String("command", "", "the command that made the run, for the record")
	versions := map[string]string{}
	fs.Func("version", "NAME=VERSION of a component of the run, for the record (repeatable)", func(s string) error {
		name, v, ok := strings.Cut(s, "=")
		if !ok || name == "" || v == "" {
			return fmt.Errorf("want NAME=VERSION, got %q", s)
		}
		versions[name] = v
		return nil
	})
	return func(context.Context) error {
		rep := report.Report{Started: time.Now(), Scale: *scale, Command: *command, Host: host(os.Getenv("AUDITSTREAM_BROKERS"), versions)}
		if *started != "" {
			t, err := time.Parse(time.RFC3339, *started)
			if err != nil {
				return usageError{fmt.Sprintf("--started: %v", err)}
			}
			rep.Started = t
			rep.Seconds = time.Since(t).Seconds()
		}
		var errs []error
		for _, path := range fs.Args() {
			rs, err := readResults(path)
			if err != nil {
				errs = append(errs, err) // a scenario that failed leaves no file; report the rest
				continue
			}
			rep.Results = append(rep.Results, rs...)
		}
		if enc, ok := report.CompareEncodings(rep.Results); ok {
			rep.Results = append(rep.Results, enc)
		}
		report.SortResults(rep.Results)
		if *out != "" {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return fmt.Errorf("encode report: %w", err)
			}
			if err := writeFile(*out, append(b, '\n')); err != nil {
				return err
			}
		}
		if *md != "" {
			var b bytes.Buffer
			if err := rep.Markdown(&b); err != nil {
				return err
			}
			if err := writeFile(*md, b.Bytes()); err != nil {
				return err
			}
		}
		if err := rep.Print(stdout); err != nil {
			return err
		}
		if len(errs) > 0 {
			log.Warn("some results are missing", "err", errors.Join(errs...))
		}
		return nil
	}
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// host describes this machine, and the versions of the libraries this
// program was built with that the router and the sinks share.
func host(brokers string, versions map[string]string) report.Host {
	h := report.Host{CPUs: runtime.NumCPU(), Go: runtime.Version(), Brokers: brokers, Versions: map[string]string{}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		h.CPUModel = procField(string(b), "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(procField(string(b), "MemTotal"), " kB"), 10, 64); err == nil {
			h.MemoryBytes = kb << 10
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/twmb/franz-go":
				h.Versions["franz-go"] = d.Version
			case "github.com/aws/aws-sdk-go-v2/service/s3":
				h.Versions["aws-sdk-go-v2/service/s3"] = d.Version
			}
		}
	}
	maps.Copy(h.Versions, versions)
	return h
}

// procField is the value of the first "name : value" line of a /proc file.
func procField(text, name string) string {
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readResults reads the results in a file: a scenario's --json output (a
// list of results) or a whole report.
func readResults(path string) ([]report.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var rs []report.Result
	if err := json.Unmarshal(b, &rs); err == nil {
		return rs, nil
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	return rep.Results, nil
}
