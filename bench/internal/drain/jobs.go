package drain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

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
func runJob(ctx context.Context, o Options, w *watcher, j job, slug, events string, end map[int32]int64) (outcome, error) {
	oc := outcome{job: j}
	group := o.Cluster.Group(slug + ".group")
	var (
		c   spec
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
	c.log = filepath.Join(o.LogDir, slug+".log")
	var prof *profiler
	if j.profile > 0 {
		if prof, err = newProfiler(o.ProfileDir); err != nil {
			return oc, err
		}
		c.env = append(c.env, prof.env())
		go prof.cpu(ctx, j.profile)
		scrape := c.scrape
		c.scrape = func(log string) (map[string]float64, error) {
			// While the router still runs: profiles die with it.
			if err := errors.Join(prof.allocs(ctx), prof.wait()); err != nil {
				o.Log.Warn("router profile", "err", err)
			}
			return scrape(log)
		}
	}
	oc.measurement, err = w.run(ctx, c, drainTarget{topic: events, group: group, end: end})
	if err != nil {
		return oc, err
	}
	if j.kind == router {
		oc.out = int64(sum(oc.metrics, "auditstream_router_routed_total"))
		return oc, nil
	}
	var counts passthrough.Counts
	if err := json.Unmarshal(oc.stdout, &counts); err != nil {
		return oc, fmt.Errorf("passthrough counts %q: %w", oc.stdout, err)
	}
	oc.out = counts.Out
	return oc, nil
}

// routerSpec writes a router run's pipeline file and returns how to start
// it, and the commit interval it will use.
func routerSpec(ctx context.Context, o Options, j job, slug, events, group string) (spec, time.Duration, error) {
	p := pipeline{brokers: o.Cluster.Brokers(), events: events, prefix: o.Cluster.Name(slug) + ".", group: group, interval: j.interval}
	// The router would create the topics it lacks while on the clock; they
	// are made here first, as the passthrough's are.
	var err error
	if p.dlq, err = o.Cluster.Topic(ctx, slug+".dlq"); err != nil {
		return spec{}, 0, err
	}
	for _, conn := range workload.Connectors() {
		if _, err := o.Cluster.Topic(ctx, slug+"."+conn.ID); err != nil {
			return spec{}, 0, err
		}
	}
	path := filepath.Join(o.LogDir, slug+".yaml")
	if err := p.write(path, workload.Connectors()); err != nil {
		return spec{}, 0, err
	}
	bin := o.RouterBin
	if j.profile > 0 {
		bin = o.ProfileRouter
	}
	interval, err := validate(bin, path)
	if err != nil {
		return spec{}, 0, err
	}
	return spec{argv: []string{bin, "run", "--config", path}, scrape: routerMetrics(ctx, int64(o.Events))}, interval, nil
}

// pipeSpec creates a passthrough run's output topics and returns how to
// start it.
func pipeSpec(ctx context.Context, o Options, j job, slug, events, group string) (spec, error) {
	argv := []string{o.Self, "pipe", "--brokers", strings.Join(o.Cluster.Brokers(), ","), "--from", events, "--group", group}
	if j.kind == pipeOne {
		out, err := o.Cluster.Topic(ctx, slug+".out")
		if err != nil {
			return spec{}, err
		}
		return spec{argv: append(argv, "--to", out)}, nil
	}
	for _, conn := range workload.Connectors() {
		if _, err := o.Cluster.Topic(ctx, slug+"."+conn.ID); err != nil {
			return spec{}, err
		}
	}
	return spec{argv: append(argv, "--to-connectors", o.Cluster.Name(slug)+".")}, nil
}
