package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/floor"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/sink"
)

func sinkCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	kinds := fs.String("types", "s3,datadog", "the sinks that drain the backlog, in turn: s3, datadog, or both")
	doFloor := fs.Bool("floor", false, "also drain with the floor (bench floor: consume, gzip, PUT to the same MinIO)")
	peer := fs.String("peer", "", "the peer's runner (bench/peer/drain.sh): drain the backlog once with it too; absent or failing, the scenario is reported not run")
	events := fs.Int("events", 1_000_000, "events in the backlog (rounded to whole batches per partition)")
	rounds := fs.Int("rounds", 2, "drains by each sink, the floor and the raw consumer, alternating; the best rate of each counts")
	sinkBin := fs.String("sink", "", "the sink binary (required)")
	intakeBin := fs.String("intake", "", "the Datadog intake test server binary (required with the datadog type)")
	brokerPID := fs.Int("broker-pid", 0, "the broker's process id, to report its CPU time too")
	minioPID := fs.Int("minio-pid", 0, "MinIO's process id, to report its CPU time too")
	logDir := fs.String("logdir", "", "where the runs' logs and pipeline files go (default: a temporary directory)")
	profSink := fs.String("profile-sink", "", "a sink built with a pprof endpoint (run.sh with BENCH_PROFILE=1): profile one more drain by each sink")
	profDir := fs.String("profile-dir", ".", "where the sink's profiles go")
	return func(ctx context.Context) error {
		o := sink.Options{Floor: *doFloor, Peer: *peer, Events: *events, Rounds: *rounds, SinkBin: *sinkBin, IntakeBin: *intakeBin,
			BrokerPID: *brokerPID, MinIOPID: *minioPID, ProfileSink: *profSink, ProfileDir: *profDir, Procs: procstat.NewReader(), Log: log}
		for _, k := range strings.Split(*kinds, ",") {
			switch k := sink.Kind(strings.TrimSpace(k)); k {
			case sink.S3Sink, sink.DatadogSink:
				o.Kinds = append(o.Kinds, k)
			case "":
			default:
				return usageError{fmt.Sprintf("--types: %q is not s3 or datadog", k)}
			}
		}
		switch {
		case o.SinkBin == "" && len(o.Kinds) > 0:
			return usageError{"--sink is required"}
		case slices.Contains(o.Kinds, sink.DatadogSink) && o.IntakeBin == "":
			return usageError{"--intake is required with the datadog type"}
		case len(o.Kinds) == 0 && !o.Floor && o.Peer == "":
			return usageError{"nothing to drain with: set --types, --floor or --peer"}
		}
		var err error
		if slices.Contains(o.Kinds, sink.S3Sink) || o.Floor || o.Peer != "" {
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

// floorCmd is the floor itself, run by bench sink --floor: it drains a
// topic into S3 and, like the router, stays up until told to stop.
func floorCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.registerBrokers(fs)
	from := fs.String("from", "", "topic to drain")
	group := fs.String("group", "", "consumer group")
	bucket := fs.String("bucket", "", "S3 bucket (the endpoint and credentials come from AUDITSTREAM_S3_*)")
	prefix := fs.String("prefix", "floor", "key prefix of the objects")
	batch := fs.Int("batch", 10_000, "records of a partition per object")
	fetchMax := fs.Int("fetch-max-bytes", 1<<20, "bytes per fetch")
	fetchPart := fs.Int("fetch-max-partition-bytes", 256<<10, "bytes per partition per fetch")
	return func(ctx context.Context) error {
		brokers, err := c.brokerList()
		if err != nil {
			return err
		}
		if *from == "" || *group == "" || *bucket == "" || *batch <= 0 {
			return usageError{"want --from, --group, --bucket and a --batch > 0"}
		}
		s3cfg, err := sink.S3FromEnv()
		if err != nil {
			return usageError{err.Error()}
		}
		client, err := s3cfg.Client()
		if err != nil {
			return err
		}
		counts, err := floor.Drain(ctx, floor.Options{Brokers: brokers, From: *from, Group: *group, S3: client, Bucket: *bucket, Prefix: *prefix,
			Batch: *batch, FetchMaxBytes: int32(*fetchMax), FetchMaxPartitionBytes: int32(*fetchPart), Log: log})
		if err != nil {
			return err
		}
		log.Info("drained; waiting for SIGTERM", "in", counts.In, "objects", counts.Objects)
		<-ctx.Done()
		if err := json.NewEncoder(stdout).Encode(counts); err != nil {
			return fmt.Errorf("print counts: %w", err)
		}
		return nil
	}
}

func e2eCmd(fs *flag.FlagSet, stdout io.Writer, log *slog.Logger) func(context.Context) error {
	var c common
	c.register(fs)
	routerBin := fs.String("router", "", "the router binary (required)")
	sinkBin := fs.String("sink", "", "the sink binary (required)")
	intakeBin := fs.String("intake", "", "the Datadog intake test server binary (required)")
	rate := fs.Float64("rate", 2000, "events published per second")
	secs := fs.Duration("duration", 40*time.Second, "how long to publish")
	list := fs.Duration("list-every", 250*time.Millisecond, "how often the bucket is listed for new objects")
	logDir := fs.String("logdir", "", "where the runs' logs and pipeline files go (default: a temporary directory)")
	return func(ctx context.Context) error {
		if *routerBin == "" || *sinkBin == "" || *intakeBin == "" {
			return usageError{"--router, --sink and --intake are required"}
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
			return sink.Latency(ctx, sink.LatencyOptions{Cluster: cl, S3: s3, RouterBin: *routerBin, SinkBin: *sinkBin, IntakeBin: *intakeBin,
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
