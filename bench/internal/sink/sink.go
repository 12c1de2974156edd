// Package sink measures the S3 and the Datadog sinks. Each drains a backlog
// of its connector topic as a child process, timed and read from /proc
// like the router, against a raw franz-go consumer of the same backlog
// (scenarios 5, 6, 9 and 10). The S3 sink's end-to-end latency is measured
// behind the router (scenario 7), and its compressor's benchmark is read
// into the report (scenario 8).
package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/pipeline"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
	"github.com/auditstream/auditstream/config"
)

// Kind is the sink measured: a connector type of the pipeline file.
type Kind string

// The kinds of sink.
const (
	S3Sink      Kind = "s3"
	DatadogSink Kind = "datadog"
)

// Scenario names in reports.
const (
	S3ThroughputScenario      = "5 s3 sink throughput"
	S3ResourcesScenario       = "6 s3 sink cpu+memory"
	S3LatencyScenario         = "7 s3 end-to-end latency"
	S3CompressorScenario      = "8 s3 compressor"
	DatadogThroughputScenario = "9 datadog sink throughput"
	DatadogResourcesScenario  = "10 datadog sink cpu+memory"
)

// Options configure Drain.
type Options struct {
	Cluster *cluster.Cluster
	Pool    *workload.Pool
	Kind    Kind
	// Events is the backlog's size, rounded so that every partition holds
	// the same whole number of batches (see Drain).
	Events int
	// Rounds is how many times the sink and the raw consumer drain the
	// backlog, alternating; the best rate of each counts.
	Rounds  int
	SinkBin string
	// Self is this program: the raw consumer runs as `Self pipe ...`, a
	// process of its own like the sink, measured the same way.
	Self string
	// S3 is where an S3 sink writes (a bucket is made for the scenario).
	S3 S3
	// IntakeBin is the Datadog intake test server, run for a Datadog sink.
	IntakeBin string
	BrokerPID int // 0: unknown
	MinIOPID  int // 0: unknown
	// ProfileSink, when set, is a sink built with a pprof endpoint (see
	// run.sh): one more drain, not measured, profiles it into ProfileDir.
	ProfileSink string
	ProfileDir  string
	LogDir      string
	Procs       *procstat.Reader
	Log         *slog.Logger
}

// outcome is one finished drain.
type outcome struct {
	name string
	raw  bool
	drain.Measurement
	intake intakeStats // a Datadog sink's run: what the intake saw
}

// fastestGzipSlug names the Datadog drain at compression_level 1.
const fastestGzipSlug = "datadog-level1"

// scenario is what a drain needs to know about the scenario it is part of.
type scenario struct {
	o      Options
	w      *drain.Watcher
	topic  string
	end    map[int32]int64
	n      int64
	id     string // the connector
	group  string // the sink's
	batch  config.Batch
	file   func(slug string) pipeline.File
	intake *intake // a Datadog sink's
}

// Drain fills a fresh connector topic, then drains it with the sink and
// with the raw consumer, alternating, and returns the throughput and the
// resource results of the sink's kind.
//
// The backlog is spread evenly over the partitions (round robin), each
// holding a whole number of the connector's batches (max_events): a drain
// then ends with the last full batch, not with partial batches waiting for
// max_age, which would add a fixed wait that says nothing about the rate.
func Drain(ctx context.Context, o Options) ([]report.Result, error) {
	began := time.Now()
	sc := &scenario{o: o, id: o.Cluster.ID(string(o.Kind))}
	var err error
	if sc.topic, err = o.Cluster.Topic(ctx, "c."+sc.id); err != nil {
		return nil, err
	}
	dlq, err := o.Cluster.Topic(ctx, string(o.Kind)+".dlq")
	if err != nil {
		return nil, err
	}
	others := map[string]int{"broker": o.BrokerPID}
	var conn func(slug string) map[string]any
	switch o.Kind {
	case S3Sink:
		b, err := newBucket(ctx, o.S3, sc.id)
		if err != nil {
			return nil, err
		}
		defer b.remove(ctx, o.Log)
		// Each drain writes under a prefix of its own: the same objects
		// under the same prefix would be adopted, not written.
		conn = func(slug string) map[string]any { return b.connector(sc.id, slug) }
		others["minio"] = o.MinIOPID
	case DatadogSink:
		if sc.intake, err = startIntake(o.IntakeBin, o.LogDir); err != nil {
			return nil, err
		}
		defer func() {
			if err := sc.intake.proc.Stop(); err != nil {
				o.Log.Warn("stop the intake", "err", err)
			}
		}()
		conn = func(slug string) map[string]any {
			c := sc.intake.connector(sc.id)
			if slug == fastestGzipSlug {
				c["datadog"].(map[string]any)["compression_level"] = 1
			}
			return c
		}
		others["intake"] = sc.intake.proc.Pid()
	default:
		return nil, fmt.Errorf("unknown sink kind %q", o.Kind)
	}
	prefix := o.Cluster.Name("c.")
	sc.file = func(slug string) pipeline.File {
		return pipeline.File{Brokers: o.Cluster.Brokers(), DLQ: dlq, Prefix: prefix, Connectors: []map[string]any{conn(slug)}}
	}
	if err := sc.learn(); err != nil {
		return nil, err
	}
	o.Cluster.AddGroup(sc.group)

	if err := sc.fill(ctx); err != nil {
		return nil, err
	}
	sc.w = drain.NewWatcher(o.Cluster, o.Procs, int(sc.n), others)
	var done []outcome
	for i := range max(o.Rounds, 1) {
		for _, raw := range []bool{true, false} {
			name := fmt.Sprintf("%s sink #%d", o.Kind, i+1)
			if raw {
				name = fmt.Sprintf("raw franz-go consume #%d", i+1)
			}
			o.Log.Info("draining", "run", name, "events", sc.n)
			oc, err := sc.drain(ctx, name, fmt.Sprintf("%s-r%d", o.Kind, len(done)), raw, 0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			o.Log.Info("drained", "run", name, "seconds", oc.Elapsed.Seconds(), "events_per_s", int(float64(sc.n)/oc.Elapsed.Seconds()),
				"cpu_s", oc.Stat.CPU.Seconds(), "peak_rss_mib", oc.Stat.PeakRSS>>20)
			done = append(done, oc)
		}
	}
	var fast *outcome
	if o.Kind == DatadogSink {
		// One more drain at gzip level 1, for what the connector's
		// compression_level trades: reported, not held to the goals.
		name := "datadog sink, compression_level 1"
		o.Log.Info("draining", "run", name, "events", sc.n)
		oc, err := sc.drain(ctx, name, fastestGzipSlug, false, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		o.Log.Info("drained", "run", name, "seconds", oc.Elapsed.Seconds(), "cpu_s", oc.Stat.CPU.Seconds(), "peak_rss_mib", oc.Stat.PeakRSS>>20)
		fast = &oc
	}
	rs := sc.results(done, fast, time.Since(began))
	if o.ProfileSink != "" {
		fastest, _ := best(done, false)
		name := fmt.Sprintf("%s sink, profiled", o.Kind)
		d := fastest.Elapsed.Round(time.Second) + time.Second // the start and the whole drain
		o.Log.Info("draining with a profile", "run", name, "cpu_profile_s", d.Seconds())
		if _, err := sc.drain(ctx, name, string(o.Kind)+"-profiled", false, d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		prof := filepath.Join(o.ProfileDir, sc.profileName())
		rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("sink profiles (one more drain, not measured): %s.cpu.pprof, %s.allocs.pprof", prof, prof))
	}
	return rs, nil
}

// fill fills the connector topic with about Events events, spread evenly,
// each partition holding whole batches.
func (sc *scenario) fill(ctx context.Context) error {
	o := sc.o
	perPartition := max(1, int(math.Round(float64(o.Events)/cluster.Partitions/float64(sc.batch.MaxEvents)))) * sc.batch.MaxEvents
	events := perPartition * cluster.Partitions
	o.Log.Info("filling the backlog", "events", events, "per_partition", perPartition, "topic", sc.topic)
	took, err := drain.Prefill(ctx, o.Cluster.Brokers(), o.Pool, sc.topic, events, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return err
	}
	if sc.end, err = o.Cluster.EndOffsets(ctx, sc.topic); err != nil {
		return err
	}
	for p, e := range sc.end {
		if e != int64(perPartition) {
			return fmt.Errorf("backlog %s: partition %d holds %d records, want %d", sc.topic, p, e, perPartition)
		}
	}
	sc.n = int64(events)
	o.Log.Info("backlog ready", "seconds", took.Seconds(), "events_per_s", int(float64(events)/took.Seconds()))
	return nil
}

// learn asks the sink (sink validate) for the connector's batch limits, the
// defaults of its destination, which only the sinks' packages know, and
// for the sink's consumer group.
func (sc *scenario) learn() error {
	path := filepath.Join(sc.o.LogDir, string(sc.o.Kind)+"-check.yaml")
	if err := sc.file("check").Write(path); err != nil {
		return err
	}
	var err error
	sc.batch, sc.group, err = sinkLimits(sc.o.SinkBin, path, sc.id)
	return err
}

func (sc *scenario) profileName() string {
	if sc.o.Kind == S3Sink {
		return "s3sink"
	}
	return "ddsink"
}

// drain drains the backlog once, with the raw consumer or with the sink;
// profile > 0 runs the sink's profiling build with a CPU profile that long.
func (sc *scenario) drain(ctx context.Context, name, slug string, raw bool, profile time.Duration) (outcome, error) {
	oc := outcome{name: name, raw: raw}
	c := drain.Child{Log: filepath.Join(sc.o.LogDir, slug+".log")}
	group := sc.group
	if raw {
		group = sc.o.Cluster.Group(slug + ".group")
		// The sink's fetch limits (sinks/internal/sink/runner.go).
		c.Argv = []string{sc.o.Self, "pipe", "--brokers", strings.Join(sc.o.Cluster.Brokers(), ","), "--from", sc.topic, "--group", group,
			"--fetch-max-bytes", strconv.Itoa(1 << 20), "--fetch-max-partition-bytes", strconv.Itoa(256 << 10)}
		var err error
		oc.Measurement, err = sc.w.Run(ctx, c, drain.Target{Topic: sc.topic, Group: group, End: sc.end})
		return oc, err
	}

	// Every drain by the sink reuses its group, which names the connector
	// topic: the offsets of the last drain go first.
	if err := sc.o.Cluster.DeleteGroup(ctx, group); err != nil {
		return oc, err
	}
	path := filepath.Join(sc.o.LogDir, slug+".yaml")
	if err := sc.file(slug).Write(path); err != nil {
		return oc, err
	}
	bin := sc.o.SinkBin
	if profile > 0 {
		bin = sc.o.ProfileSink
	}
	c.Argv = []string{bin, "run", "--config", path, "--connector", sc.id}
	delivered := func(m map[string]float64) bool {
		return drain.Sum(m, "auditstream_sink_delivered_total") >= float64(sc.n)
	}
	c.Scrape = drain.Metrics(ctx, delivered)
	if sc.intake != nil {
		if err := sc.intake.reset(ctx); err != nil {
			return oc, err
		}
		dctx, stop := context.WithCancel(ctx)
		defer stop()
		go sc.intake.discard(dctx)
		sinkMetrics := c.Scrape
		c.Scrape = func(log string) (map[string]float64, error) {
			m, err := sinkMetrics(log)
			if err == nil {
				oc.intake, err = sc.intake.stats(ctx)
			}
			return m, err
		}
	}
	if profile > 0 {
		var err error
		if c, err = drain.Profiled(ctx, c, sc.o.ProfileDir, sc.profileName(), profile, sc.o.Log); err != nil {
			return oc, err
		}
	}
	var err error
	oc.Measurement, err = sc.w.Run(ctx, c, drain.Target{Topic: sc.topic, Group: group, End: sc.end})
	return oc, err
}
