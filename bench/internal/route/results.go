package route

import (
	"fmt"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// results turns the finished runs into the two scenarios' results.
func results(o Options, done []outcome, backlogBytes int64, took time.Duration) []report.Result {
	n := float64(o.Events)
	params := map[string]any{
		"events": o.Events, "partitions": cluster.Partitions, "connectors": len(workload.Connectors()),
		"mean_value_bytes": o.Pool.MeanValueBytes(), "backlog_log_bytes_per_event": float64(backlogBytes) / n,
	}
	enc := workload.EncodingName(o.Pool.Encoding())
	params["encoding"] = enc
	thr := report.Result{Scenario: ThroughputScenario + ", " + enc, Params: params}
	res := report.Result{Scenario: ResourcesScenario + ", " + enc, Params: params}
	for _, oc := range done {
		thr.Runs = append(thr.Runs, oc.run(n))
	}

	isDef := func(oc outcome) bool { return oc.kind == router && oc.job.interval == 0 }
	isFan := func(oc outcome) bool { return oc.kind == pipeFanout }
	fanout, fanouts := best(done, isFan)
	def, defs := best(done, isDef)
	one, _ := best(done, func(oc outcome) bool { return oc.kind == pipeOne })
	fanName := fmt.Sprintf("PIPE: passthrough fan-out (best of %d)", fanouts)
	defName := fmt.Sprintf("router drain, commit %v = default (best of %d)", def.commitEvery, defs)
	rate := func(oc outcome) float64 { return n / oc.Elapsed.Seconds() }

	head := report.Compare(defName, "events/s", rate(def), rate(fanout), fanName, report.RatioAtLeast(0.80))
	head.Headline, head.Claim = true, report.ClaimRouter
	thr.Figures = append(thr.Figures, head,
		report.Compare(defName, "events/s", rate(def), rate(one), "passthrough 1 topic", nil))
	for _, oc := range done {
		if oc.kind == router && oc.job.interval != 0 {
			thr.Figures = append(thr.Figures, report.Compare(fmt.Sprintf("router drain, commit %v", oc.commitEvery), "events/s", rate(oc), rate(fanout), fanName, nil))
		}
	}
	thr.Figures = append(thr.Figures, report.Compare("passthrough fan-out", "events/s", rate(fanout), rate(one), "passthrough 1 topic", nil))
	if def.out != fanout.out {
		thr.Notes = append(thr.Notes, fmt.Sprintf("MISMATCH: the router wrote %d records, the fan-out passthrough %d: their filters disagree", def.out, fanout.out))
	} else {
		thr.Notes = append(thr.Notes, fmt.Sprintf("fan-out %.2f: %d input events became %d output records, the same count from the router (its routed_total) and from the fan-out passthrough", float64(fanout.out)/n, o.Events, fanout.out))
	}
	thr.Notes = append(thr.Notes, "first_commit_s and steady_events_per_s (router runs) split a drain into start-up plus first transaction, and the rate between the first and the last commit seen; the headline uses the whole drain, as the passthrough commits only once")
	thr.Differences = []string{
		"headline: the router against the passthrough with the same fan-out (the three connectors' filters, hand-written, on the same contract headers), so both write the same records; the 1-topic passthrough shows what the fan-out itself costs",
		"both are separate processes timed alike: from process start until the group's committed offsets (kadm, polled every 50ms) reach the backlog's end offsets; both include start-up and joining the group; every output topic exists before the clock starts",
		"same consumer settings (read_committed, 16 MiB/4 MiB fetch limits, earliest offset) and producer settings (lz4, linger 0, idempotent, acks=all)",
		fmt.Sprintf("the backlog's values are %s, with the contract headers; the router and the passthrough route by the headers alike", enc),
		"the router wraps its work in transactions (AddPartitionsToTxn, TxnOffsetCommit, EndTxn and markers every commit interval) and does per-record routing work (glob filters, a tally, a lag gauge per partition); the passthrough flushes and commits its offsets once, at the end",
		"the router's last offsets become visible only when its last transaction ends, up to one commit interval after its last record: a fixed tail per drain, larger for longer intervals",
	}
	thr.Seconds = took.Seconds()

	// The goals are ceilings, so each side's highest CPU and peak RSS over
	// its runs count, not those of its fastest run.
	defCPU, defRSS := worst(done, isDef)
	fanCPU, fanRSS := worst(done, isFan)
	perM := func(d time.Duration) float64 { return d.Seconds() / n * 1e6 }
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	cpu := report.Compare(fmt.Sprintf("router CPU per 1M input events (most of %d)", defs), "CPU-s", perM(defCPU), perM(fanCPU), "passthrough fan-out", report.AtMost(15))
	cpu.Claim = report.ClaimCPU
	rss := report.Compare(fmt.Sprintf("router peak RSS (most of %d)", defs), "MiB", mib(defRSS), mib(fanRSS), "passthrough fan-out", report.AtMost(150))
	rss.Claim = report.ClaimRSS
	res.Figures = append(res.Figures, cpu, rss)
	if def.Others["broker"] > 0 && fanout.Others["broker"] > 0 {
		res.Figures = append(res.Figures, report.Compare("broker CPU per 1M input events (fastest runs)", "CPU-s", perM(def.Others["broker"]), perM(fanout.Others["broker"]), "passthrough fan-out", nil))
	}
	for _, oc := range done {
		if isDef(oc) || isFan(oc) {
			res.Runs = append(res.Runs, oc.run(n))
		}
	}
	res.Differences = []string{
		"CPU is utime+stime from /proc/<pid>/stat and peak RSS is VmHWM from /proc/<pid>/status, read the moment the drain is seen complete; both include start-up",
		"the figures are the highest over the default-interval router runs of scenario 3, against the highest over the fan-out passthrough runs, a franz-go process with the router's client settings and no transactions; the broker's CPU is its /proc time over the fastest run of each",
	}
	res.Seconds = 0 // measured within scenario 3
	return []report.Result{thr, res}
}

// best returns the fastest of the runs that keep accepts, and how many
// there were.
func best(done []outcome, keep func(outcome) bool) (outcome, int) {
	var b outcome
	n := 0
	for _, oc := range done {
		if !keep(oc) {
			continue
		}
		n++
		if n == 1 || oc.Elapsed < b.Elapsed {
			b = oc
		}
	}
	return b, n
}

// worst returns the highest CPU time and peak RSS of the runs that keep
// accepts.
func worst(done []outcome, keep func(outcome) bool) (cpu time.Duration, rss int64) {
	for _, oc := range done {
		if keep(oc) {
			cpu, rss = max(cpu, oc.Stat.CPU), max(rss, oc.Stat.PeakRSS)
		}
	}
	return cpu, rss
}

// run is the report's record of one drain of n events.
func (oc outcome) run(n float64) report.Run {
	r := report.NewRun(oc.name, int64(n), oc.Elapsed)
	r.Extra = map[string]float64{
		"out_records": float64(oc.out), "cpu_s": oc.Stat.CPU.Seconds(), "cpu_s_per_M": oc.Stat.CPU.Seconds() / n * 1e6,
		"peak_rss_mib": float64(oc.Stat.PeakRSS) / (1 << 20),
	}
	if d := oc.Others["broker"]; d > 0 {
		r.Extra["broker_cpu_s_per_M"] = d.Seconds() / n * 1e6
	}
	if oc.kind != router {
		return r
	}
	m := oc.Metrics
	commits := m[`auditstream_router_transactions_total{result="commit"}`]
	r.Extra["commit_interval_ms"] = float64(oc.commitEvery.Milliseconds())
	r.Extra["txn_commits"] = commits
	r.Extra["txn_aborts"] = m[`auditstream_router_transactions_total{result="abort"}`]
	if c := m["auditstream_router_commit_seconds_count"]; c > 0 {
		r.Extra["txn_end_ms_mean"] = m["auditstream_router_commit_seconds_sum"] / c * 1000
	}
	if commits > 0 {
		r.Extra["records_per_txn"] = m["auditstream_router_records_in_total"] / commits
	}
	if len(oc.Progress) > 0 {
		r.Extra["first_commit_s"] = oc.Progress[0].At.Seconds()
	}
	if s := oc.SteadyRate(); s > 0 {
		r.Extra["steady_events_per_s"] = s
	}
	return r
}
