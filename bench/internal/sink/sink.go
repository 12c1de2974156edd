// Package sink measures the S3 and the Datadog sinks. Each drains a backlog
// of a connector topic, queued while it was stopped, as a child process
// timed and read from /proc like the router, against a raw franz-go
// consumer of the same backlog (scenarios 5, 6, 9 and 10), the floor (a
// minimal consume+gzip+PUT, scenario 11) and the peer (Kafka Connect with
// Aiven's S3 sink, scenario 12), all on one backlog per value encoding.
// The end-to-end latency, to an S3 object and to the intake, is measured
// behind the router (scenario 7), and the S3 compressor's benchmark is read
// into the report (scenario 8).
package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
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
	"github.com/auditstream/auditstream/proto/record"
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
	S3ThroughputScenario      = "5 s3 sink backlog drain"
	S3ResourcesScenario       = "6 s3 sink cpu+memory"
	S3LatencyScenario         = "7 end-to-end latency"
	S3CompressorScenario      = "8 s3 compressor"
	DatadogThroughputScenario = "9 datadog sink backlog drain"
	DatadogResourcesScenario  = "10 datadog sink cpu+memory"
	FloorScenario             = "11 floor: consume, gzip, PUT"
	PeerScenario              = "12 peer: Kafka Connect + Aiven S3"
)

// floorKind and rawKind mark the floor's and the raw consumer's drains
// among the sinks'.
const (
	floorKind Kind = "floor"
	rawKind   Kind = "raw"
)

// Options configure Drain.
type Options struct {
	Cluster *cluster.Cluster
	// Pool is what the backlog holds; its encoding names the results.
	Pool *workload.Pool
	// Kinds are the sinks that drain the backlog, each in turn.
	Kinds []Kind
	// Floor adds the floor's drains: bench floor, a minimal consumer that
	// gzips the raw values and PUTs them to the same MinIO.
	Floor bool
	// Peer, when set, is the peer's runner (bench/peer/drain.sh): it drains
	// the backlog once, into the same MinIO.
	Peer string
	// Events is the backlog's size, rounded so that every partition holds
	// the same whole number of batches of every kind (see Drain).
	Events int
	// Rounds is how many times each sink, the floor and the raw consumer
	// drain the backlog, alternating; the best rate of each counts.
	Rounds  int
	SinkBin string
	// Self is this program: the raw consumer runs as `Self pipe ...` and
	// the floor as `Self floor ...`, processes of their own like the sink,
	// measured the same way.
	Self string
	// S3 is where an S3 sink, the floor and the peer write (a bucket is
	// made for the scenario).
	S3 S3
	// IntakeBin is the Datadog intake test server, run for a Datadog sink.
	IntakeBin string
	BrokerPID int // 0: unknown
	MinIOPID  int // 0: unknown
	// ProfileSink, when set, is a sink built with a pprof endpoint (see
	// run.sh): one more drain by each sink, not measured, profiles it into
	// ProfileDir.
	ProfileSink string
	ProfileDir  string
	LogDir      string
	Procs       *procstat.Reader
	Log         *slog.Logger
}

// outcome is one finished drain.
type outcome struct {
	name string
	kind Kind // a sink's, floorKind or rawKind
	drain.Measurement
	intake intakeStats // a Datadog sink's run: what the intake saw
}

// fastestGzipSlug names the Datadog drain at compression_level 1.
const fastestGzipSlug = "datadog-level1"

// scenario is what a drain needs to know about the scenario it is part of.
type scenario struct {
	o      Options
	enc    string // the values' encoding, for names
	w      *drain.Watcher
	topic  string
	end    map[int32]int64
	n      int64
	id     string // the connector: every kind drains the topic prefix+id
	prefix string
	dlq    string
	kinds  map[Kind]*kindConfig
	bucket *bucket // for an S3 sink, the floor and the peer
	intake *intake // for a Datadog sink
}

// kindConfig is what the config makes of a kind's connector.
type kindConfig struct {
	batch config.Batch
	group string
}

// Drain fills a fresh connector topic, then drains it with each kind of
// sink, the raw consumer and the floor, alternating, then once with the
// peer; it returns the results of each. The sinks are stopped while the
// backlog is queued: each drain is a backlog drain.
//
// The backlog is spread evenly over the partitions (round robin), each
// holding a whole number of every kind's batches (max_events): a drain
// then ends with the last full batch, not with partial batches waiting for
// max_age, which would add a fixed wait that says nothing about the rate.
func Drain(ctx context.Context, o Options) ([]report.Result, error) {
	began := time.Now()
	enc := workload.EncodingName(o.Pool.Encoding())
	sc := &scenario{o: o, enc: enc, id: o.Cluster.ID(strings.ToLower(enc)), prefix: o.Cluster.Name("c."), kinds: map[Kind]*kindConfig{}}
	var err error
	if sc.topic, err = o.Cluster.Topic(ctx, "c."+sc.id); err != nil {
		return nil, err
	}
	if sc.dlq, err = o.Cluster.Topic(ctx, "sink."+sc.id+".dlq"); err != nil {
		return nil, err
	}
	others := map[string]int{"broker": o.BrokerPID}
	if slices.Contains(o.Kinds, S3Sink) || o.Floor || o.Peer != "" {
		if sc.bucket, err = newBucket(ctx, o.S3, sc.id); err != nil {
			return nil, err
		}
		defer sc.bucket.remove(ctx, o.Log)
		others["minio"] = o.MinIOPID
	}
	if slices.Contains(o.Kinds, DatadogSink) {
		if sc.intake, err = startIntake(o.IntakeBin, o.LogDir); err != nil {
			return nil, err
		}
		defer func() {
			if err := sc.intake.proc.Stop(); err != nil {
				o.Log.Warn("stop the intake", "err", err)
			}
		}()
		others["intake"] = sc.intake.proc.Pid()
	}
	for _, k := range o.Kinds {
		if sc.kinds[k], err = sc.learn(k); err != nil {
			return nil, err
		}
		o.Cluster.AddGroup(sc.kinds[k].group)
	}
	if err := sc.fill(ctx); err != nil {
		return nil, err
	}
	sc.w = drain.NewWatcher(o.Cluster, o.Procs, int(sc.n), others)
	var done []outcome
	run := func(name, slug string, k Kind) error {
		o.Log.Info("draining", "run", name, "events", sc.n)
		oc, err := sc.drain(ctx, name, slug, k, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		o.Log.Info("drained", "run", name, "seconds", oc.Elapsed.Seconds(), "events_per_s", int(float64(sc.n)/oc.Elapsed.Seconds()),
			"cpu_s", oc.Stat.CPU.Seconds(), "peak_rss_mib", oc.Stat.PeakRSS>>20)
		done = append(done, oc)
		return nil
	}
	for i := range max(o.Rounds, 1) {
		order := append([]Kind{rawKind}, o.Kinds...)
		if o.Floor {
			order = append(order, floorKind)
		}
		for _, k := range order {
			name := fmt.Sprintf("%s sink #%d", k, i+1)
			switch k {
			case rawKind:
				name = fmt.Sprintf("raw franz-go consume #%d", i+1)
			case floorKind:
				name = fmt.Sprintf("floor #%d", i+1)
			}
			if err := run(name, fmt.Sprintf("%s-%s-r%d", strings.ToLower(enc), k, len(done)), k); err != nil {
				return nil, err
			}
		}
	}
	var fast *outcome
	if slices.Contains(o.Kinds, DatadogSink) && o.Pool.Encoding() == record.Protobuf {
		// One more drain at gzip level 1, for what the connector's
		// compression_level trades: reported, not held to the goals.
		if err := run("datadog sink, compression_level 1", fastestGzipSlug, DatadogSink); err != nil {
			return nil, err
		}
		fast = &done[len(done)-1]
		done = done[:len(done)-1]
	}
	var rs []report.Result
	for _, k := range o.Kinds {
		rs = append(rs, sc.results(k, done, fast, time.Since(began))...)
	}
	if o.Floor {
		rs = append(rs, sc.floorResult(done))
	}
	if o.Peer != "" {
		rs = append(rs, sc.peer(ctx, done))
	}
	if o.ProfileSink != "" {
		for _, k := range o.Kinds {
			fastest, _ := best(done, k)
			name := fmt.Sprintf("%s sink, profiled", k)
			d := fastest.Elapsed.Round(time.Second) + time.Second // the start and the whole drain
			o.Log.Info("draining with a profile", "run", name, "cpu_profile_s", d.Seconds())
			if _, err := sc.drain(ctx, name, string(k)+"-profiled", k, d); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("sink profiles (one more drain by each sink, not measured): %s/{s3sink,ddsink}-%s.{cpu,allocs}.pprof", o.ProfileDir, strings.ToLower(enc)))
	}
	return rs, nil
}

// fill fills the connector topic with about Events events, spread evenly,
// each partition holding whole batches of every kind.
func (sc *scenario) fill(ctx context.Context) error {
	o := sc.o
	unit := 1000
	for _, k := range sc.kinds {
		unit = lcm(unit, k.batch.MaxEvents)
	}
	perPartition := max(1, int(math.Round(float64(o.Events)/cluster.Partitions/float64(unit)))) * unit
	events := perPartition * cluster.Partitions
	o.Log.Info("filling the backlog", "events", events, "per_partition", perPartition, "topic", sc.topic, "encoding", sc.enc)
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

// lcm is the least common multiple of two positive numbers.
func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// file is the pipeline of one drain by a sink of kind k.
func (sc *scenario) file(k Kind, slug string) pipeline.File {
	var conn map[string]any
	switch k {
	case S3Sink:
		// Each drain writes under a prefix of its own: the same objects
		// under the same prefix would be adopted, not written.
		conn = sc.bucket.connector(sc.id, slug)
	case DatadogSink:
		conn = sc.intake.connector(sc.id)
		if slug == fastestGzipSlug {
			conn["datadog"].(map[string]any)["compression_level"] = 1
		}
	}
	return pipeline.File{Brokers: sc.o.Cluster.Brokers(), DLQ: sc.dlq, Prefix: sc.prefix, Connectors: []map[string]any{conn}}
}

// learn asks the sink (sink validate) for the connector's batch limits, the
// defaults of its destination, which only the sinks' packages know, and
// for the sink's consumer group.
func (sc *scenario) learn(k Kind) (*kindConfig, error) {
	if k != S3Sink && k != DatadogSink {
		return nil, fmt.Errorf("unknown sink kind %q", k)
	}
	path := filepath.Join(sc.o.LogDir, fmt.Sprintf("%s-%s-check.yaml", strings.ToLower(sc.enc), k))
	if err := sc.file(k, "check").Write(path); err != nil {
		return nil, err
	}
	batch, group, err := sinkLimits(sc.o.SinkBin, path, sc.id)
	if err != nil {
		return nil, err
	}
	return &kindConfig{batch: batch, group: group}, nil
}

func profileName(k Kind, enc string) string {
	if k == S3Sink {
		return "s3sink-" + strings.ToLower(enc)
	}
	return "ddsink-" + strings.ToLower(enc)
}

// s3Batch is the S3 connector's max_events, which the floor batches by
// too; the S3 default when no S3 sink runs.
func (sc *scenario) s3Batch() int {
	if k, ok := sc.kinds[S3Sink]; ok {
		return k.batch.MaxEvents
	}
	return 10_000
}

// drain drains the backlog once, with the raw consumer, the floor or a
// sink of kind k; profile > 0 runs the sink's profiling build with a CPU
// profile that long.
func (sc *scenario) drain(ctx context.Context, name, slug string, k Kind, profile time.Duration) (outcome, error) {
	oc := outcome{name: name, kind: k}
	c := drain.Child{Log: filepath.Join(sc.o.LogDir, slug+".log")}
	brokers := strings.Join(sc.o.Cluster.Brokers(), ",")
	// The sink's fetch limits (sinks/internal/sink/runner.go).
	fetch := []string{"--fetch-max-bytes", strconv.Itoa(1 << 20), "--fetch-max-partition-bytes", strconv.Itoa(256 << 10)}
	switch k {
	case rawKind, floorKind:
		group := sc.o.Cluster.Group(slug + ".group")
		c.Argv = append([]string{sc.o.Self, "pipe", "--brokers", brokers, "--from", sc.topic, "--group", group}, fetch...)
		if k == floorKind {
			c.Argv = append([]string{sc.o.Self, "floor", "--brokers", brokers, "--from", sc.topic, "--group", group,
				"--bucket", sc.bucket.name, "--prefix", slug, "--batch", strconv.Itoa(sc.s3Batch())}, fetch...)
		}
		var err error
		oc.Measurement, err = sc.w.Run(ctx, c, drain.Target{Topic: sc.topic, Group: group, End: sc.end})
		return oc, err
	}

	// Every drain by a sink reuses its group, which names the connector
	// topic: the offsets of the last drain go first.
	group := sc.kinds[k].group
	if err := sc.o.Cluster.DeleteGroup(ctx, group); err != nil {
		return oc, err
	}
	path := filepath.Join(sc.o.LogDir, slug+".yaml")
	if err := sc.file(k, slug).Write(path); err != nil {
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
	if k == DatadogSink {
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
		if c, err = drain.Profiled(ctx, c, sc.o.ProfileDir, profileName(k, sc.enc), profile, sc.o.Log); err != nil {
			return oc, err
		}
	}
	var err error
	oc.Measurement, err = sc.w.Run(ctx, c, drain.Target{Topic: sc.topic, Group: group, End: sc.end})
	return oc, err
}
