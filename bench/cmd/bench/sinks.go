package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/sink"
)

func sinkCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	kind := fs.String("type", "", "the sink to measure: s3 or datadog (required)")
	events := fs.Int("events", 1_000_000, "events in the backlog (rounded to whole batches per partition)")
	rounds := fs.Int("rounds", 2, "drains by the sink and by the raw consumer, alternating; the best rate of each counts")
	sinkBin := fs.String("sink", "", "the sink binary (required)")
	intakeBin := fs.String("intake", "", "the Datadog intake test server binary (required with --type datadog)")
	brokerPID := fs.Int("broker-pid", 0, "the broker's process id, to report its CPU time too")
	minioPID := fs.Int("minio-pid", 0, "MinIO's process id, to report its CPU time too")
	logDir := fs.String("logdir", "", "where the runs' logs and pipeline files go (default: a temporary directory)")
	profSink := fs.String("profile-sink", "", "a sink built with a pprof endpoint (run.sh with BENCH_PROFILE=1): profile one more drain")
	profDir := fs.String("profile-dir", ".", "where the sink's profiles go")
	return func(ctx context.Context) error {
		o := sink.Options{Kind: sink.Kind(*kind), Events: *events, Rounds: *rounds, SinkBin: *sinkBin, IntakeBin: *intakeBin,
			BrokerPID: *brokerPID, MinIOPID: *minioPID, ProfileSink: *profSink, ProfileDir: *profDir, Procs: procstat.NewReader(), Log: log}
		switch {
		case o.SinkBin == "":
			return usageError{"--sink is required"}
		case o.Kind != sink.S3Sink && o.Kind != sink.DatadogSink:
			return usageError{"--type must be s3 or datadog"}
		case o.Kind == sink.DatadogSink && o.IntakeBin == "":
			return usageError{"--intake is required with --type datadog"}
		}
		var err error
		if o.Kind == sink.S3Sink {
			if o.S3, err = sink.S3FromEnv(); err != nil {
				return usageError{err.Error()}
			}
		}
		if o.Self, o.LogDir, err = selfAndLogDir(*logDir); err != nil {
			return err
		}
		if o.Pool, err = c.newPool(*events); err != nil {
			return err
		}
		return measure(ctx, &c, stdout, log, func(cl *cluster.Cluster) ([]report.Result, error) {
			o.Cluster = cl
			return sink.Drain(ctx, o)
		})
	}
}

func e2eCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	routerBin := fs.String("router", "", "the router binary (required)")
	sinkBin := fs.String("sink", "", "the sink binary (required)")
	rate := fs.Float64("rate", 2000, "events published per second")
	secs := fs.Duration("duration", 40*time.Second, "how long to publish")
	list := fs.Duration("list-every", 250*time.Millisecond, "how often the bucket is listed for new objects")
	logDir := fs.String("logdir", "", "where the runs' logs and pipeline files go (default: a temporary directory)")
	return func(ctx context.Context) error {
		if *routerBin == "" || *sinkBin == "" {
			return usageError{"--router and --sink are required"}
		}
		if *rate <= 0 || *secs <= 0 || *list <= 0 {
			return usageError{"--rate, --duration and --list-every must be positive"}
		}
		s3, err := sink.S3FromEnv()
		if err != nil {
			return usageError{err.Error()}
		}
		_, dir, err := selfAndLogDir(*logDir)
		if err != nil {
			return err
		}
		return measure(ctx, &c, stdout, log, func(cl *cluster.Cluster) ([]report.Result, error) {
			return sink.Latency(ctx, sink.LatencyOptions{Cluster: cl, S3: s3, RouterBin: *routerBin, SinkBin: *sinkBin,
				Rate: *rate, Duration: *secs, List: *list, Seed: c.seed, LogDir: dir, Log: log})
		})
	}
}

func gzipCmd(fs *flag.FlagSet, stdout io.Writer, _ *slog.Logger) func(context.Context) error {
	var c common
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
	from := fs.String("from", "-", "the output of the S3 sink's BenchmarkGzip (go test -bench Gzip ./internal/s3sink/ in sinks/); - is stdin")
	encoder := fs.String("encoder", "", "the S3 sink's encode.go, to say which gzip and level it uses")
	return func(context.Context) error {
		in := os.Stdin
		if *from != "-" {
			f, err := os.Open(*from)
			if err != nil {
				return fmt.Errorf("benchmark output: %w", err)
			}
			defer f.Close()
			in = f
		}
		res, err := sink.Compressor(in, *encoder)
		if err != nil {
			return err
		}
		return c.emit(stdout, res)
	}
}
