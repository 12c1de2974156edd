package route

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/passthrough"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// plan orders the runs: the default router and the fan-out passthrough
// rounds times each (the best of each counts), the others once in the
// first round, alternating baseline and router so that drift in the
// machine's load touches both.
func plan(sweep []time.Duration, rounds int) []job {
	var jobs []job
	for r := 1; r <= rounds; r++ {
		jobs = append(jobs, job{name: fmt.Sprintf("passthrough fan-out #%d", r), kind: pipeFanout}, job{name: fmt.Sprintf("router default #%d", r), kind: router})
		if r > 1 {
			continue
		}
		jobs = append(jobs, job{name: "passthrough 1 topic", kind: pipeOne})
		for _, d := range sweep {
			jobs = append(jobs, job{name: "router " + d.String(), kind: router, interval: d})
		}
	}
	return jobs
}

// runJob drains the backlog once.
func runJob(ctx context.Context, o Options, w *drain.Watcher, j job, slug, events string, end map[int32]int64) (outcome, error) {
	oc := outcome{job: j}
	group := o.Cluster.Group(slug + ".group")
	var (
		c   drain.Child
		err error
	)
	switch j.kind {
	case router:
		c, oc.commitEvery, err = routerSpec(ctx, o, j, slug, events, group)
	case pipeOne, pipeFanout:
		c, err = pipeSpec(ctx, o, j, slug, events, group)
	}
	if err != nil {
		return oc, err
	}
	c.Log = filepath.Join(o.LogDir, slug+".log")
	if j.profile > 0 {
		if c, err = drain.Profiled(ctx, c, o.ProfileDir, "router", j.profile, o.Log); err != nil {
			return oc, err
		}
	}
	oc.Measurement, err = w.Run(ctx, c, drain.Target{Topic: events, Group: group, End: end})
	if err != nil {
		return oc, err
	}
	if j.kind == router {
		oc.out = int64(drain.Sum(oc.Metrics, "auditstream_router_routed_total"))
		return oc, nil
	}
	var counts passthrough.Counts
	if err := json.Unmarshal(oc.Stdout, &counts); err != nil {
		return oc, fmt.Errorf("passthrough counts %q: %w", oc.Stdout, err)
	}
	oc.out = counts.Out
	return oc, nil
}

// routerSpec writes a router run's pipeline file and returns how to start
// it, and the commit interval it will use.
func routerSpec(ctx context.Context, o Options, j job, slug, events, group string) (drain.Child, time.Duration, error) {
	// The router would create the topics it lacks while on the clock; they
	// are made here first, as the passthrough's are.
	dlq, err := o.Cluster.Topic(ctx, slug+".dlq")
	if err != nil {
		return drain.Child{}, 0, err
	}
	for _, conn := range workload.Connectors() {
		if _, err := o.Cluster.Topic(ctx, slug+"."+conn.ID); err != nil {
			return drain.Child{}, 0, err
		}
	}
	path := filepath.Join(o.LogDir, slug+".yaml")
	if err := routerFile(o.Cluster.Brokers(), events, dlq, o.Cluster.Name(slug)+".", group, j.interval).Write(path); err != nil {
		return drain.Child{}, 0, err
	}
	bin := o.RouterBin
	if j.profile > 0 {
		bin = o.ProfileRouter
	}
	interval, err := validate(bin, path)
	if err != nil {
		return drain.Child{}, 0, err
	}
	// The router's counters move when a transaction commits, a moment after
	// the offsets become visible.
	in := func(m map[string]float64) bool { return m["auditstream_router_records_in_total"] >= float64(o.Events) }
	return drain.Child{Argv: []string{bin, "run", "--config", path}, Scrape: drain.Metrics(ctx, in)}, interval, nil
}

// pipeSpec creates a passthrough run's output topics and returns how to
// start it.
func pipeSpec(ctx context.Context, o Options, j job, slug, events, group string) (drain.Child, error) {
	argv := []string{o.Self, "pipe", "--brokers", strings.Join(o.Cluster.Brokers(), ","), "--from", events, "--group", group}
	if j.kind == pipeOne {
		out, err := o.Cluster.Topic(ctx, slug+".out")
		if err != nil {
			return drain.Child{}, err
		}
		return drain.Child{Argv: append(argv, "--to", out)}, nil
	}
	for _, conn := range workload.Connectors() {
		if _, err := o.Cluster.Topic(ctx, slug+"."+conn.ID); err != nil {
			return drain.Child{}, err
		}
	}
	return drain.Child{Argv: append(argv, "--to-connectors", o.Cluster.Name(slug)+".")}, nil
}
