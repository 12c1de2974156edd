// Package route measures the router draining a backlog of events against a
// bare franz-go passthrough over the same backlog (scenario 3), and the
// router's CPU time and peak memory while it does (scenario 4).
package route

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// Scenario names in reports.
const (
	ThroughputScenario = "3 router throughput"
	ResourcesScenario  = "4 router cpu+memory"
)

// Options configure Run.
type Options struct {
	Cluster *cluster.Cluster
	Pool    *workload.Pool
	Events  int
	// Rounds is how many times the default router and the fan-out
	// passthrough drain the backlog; the best of each counts.
	Rounds    int
	RouterBin string
	// Self is this program: the passthrough runs as `Self pipe ...`, a
	// process of its own like the router, measured the same way.
	Self string
	// Sweep are the commit intervals tried besides the router's default.
	Sweep []time.Duration
	// ProfileRouter, when set, is a router built with a pprof endpoint
	// (see run.sh): one more default drain, not measured, profiles it into
	// ProfileDir.
	ProfileRouter string
	ProfileDir    string
	BrokerPID     int // the broker's process, for its CPU time; 0: unknown
	LogDir        string
	Procs         *procstat.Reader
	Log           *slog.Logger
}

// kind is what a job runs.
type kind int

const (
	router kind = iota
	pipeOne
	pipeFanout
)

// job is one drain of the backlog.
type job struct {
	name     string
	kind     kind
	interval time.Duration // router only; 0: the default
	// profile, when set, runs the profiling build of the router and takes
	// a CPU profile this long from its start.
	profile time.Duration
}

// outcome is a finished job.
type outcome struct {
	job
	drain.Measurement
	out         int64         // records written
	commitEvery time.Duration // router only: the commit interval it used
}

// Run fills a fresh events topic with Events events, then drains it with
// the router and with the passthrough, alternating, each in a fresh
// consumer group writing to fresh topics.
func Run(ctx context.Context, o Options) ([]report.Result, error) {
	began := time.Now()
	events, err := o.Cluster.Topic(ctx, "route.events")
	if err != nil {
		return nil, err
	}
	o.Log.Info("filling the backlog", "events", o.Events, "topic", events)
	fill, err := drain.Prefill(ctx, o.Cluster.Brokers(), o.Pool, events, o.Events)
	if err != nil {
		return nil, err
	}
	end, err := o.Cluster.EndOffsets(ctx, events)
	if err != nil {
		return nil, err
	}
	if n := cluster.Sum(end); n != int64(o.Events) {
		return nil, fmt.Errorf("backlog %s holds %d records, want %d", events, n, o.Events)
	}
	size, _ := o.Cluster.Bytes(ctx, events)
	o.Log.Info("backlog ready", "seconds", fill.Seconds(), "events_per_s", int(float64(o.Events)/fill.Seconds()), "log_bytes_per_event", size/int64(o.Events))

	w := drain.NewWatcher(o.Cluster, o.Procs, o.Events, map[string]int{"broker": o.BrokerPID})
	jobs := plan(o.Sweep, max(o.Rounds, 1))
	var done []outcome
	for i, j := range jobs {
		o.Log.Info("draining", "run", j.name, "events", o.Events)
		oc, err := runJob(ctx, o, w, j, fmt.Sprintf("r%d", i), events, end)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", j.name, err)
		}
		o.Log.Info("drained", "run", j.name, "seconds", oc.Elapsed.Seconds(), "events_per_s", int(float64(o.Events)/oc.Elapsed.Seconds()),
			"cpu_s", oc.Stat.CPU.Seconds(), "peak_rss_mib", oc.Stat.PeakRSS>>20, "broker_cpu_s", oc.Others["broker"].Seconds(), "out", oc.out)
		done = append(done, oc)
	}
	rs := results(o, done, size, time.Since(began))
	if o.ProfileRouter != "" {
		def, _ := best(done, func(oc outcome) bool { return oc.kind == router && oc.job.interval == 0 })
		// Long enough to cover the start and the whole drain.
		j := job{name: "router default, profiled", kind: router, profile: def.Elapsed.Round(time.Second) + time.Second}
		o.Log.Info("draining with a profile", "run", j.name, "cpu_profile_s", j.profile.Seconds())
		if _, err := runJob(ctx, o, w, j, "profiled", events, end); err != nil {
			return nil, fmt.Errorf("%s: %w", j.name, err)
		}
		rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("router profiles (one more default drain, not measured): %s, %s",
			filepath.Join(o.ProfileDir, "router.cpu.pprof"), filepath.Join(o.ProfileDir, "router.allocs.pprof")))
	}
	return rs, nil
}
