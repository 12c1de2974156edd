package sink

import (
	"fmt"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/report"
)

// fullBatchGoal is the share of intake requests that must carry a full
// batch (1000 entries) while a backlog drains, in percent.
const fullBatchGoal = 95

// results turns the finished drains into the throughput and the resource
// results of the sink of kind k. fast is the Datadog sink's drain at gzip
// level 1, or nil.
func (sc *scenario) results(k Kind, done []outcome, fast *outcome, took time.Duration) []report.Result {
	n := float64(sc.n)
	batch := sc.kinds[k].batch
	params := map[string]any{
		"events": sc.n, "partitions": cluster.Partitions, "mean_value_bytes": sc.o.Pool.MeanValueBytes(), "encoding": sc.enc,
		"batch_max_events": batch.MaxEvents, "batch_max_bytes": int64(batch.MaxBytes), "batch_max_age_s": batch.MaxAge.D().Seconds(),
	}
	thrName, resName, sinkName := S3ThroughputScenario, S3ResourcesScenario, "S3 sink"
	if k == DatadogSink {
		thrName, resName, sinkName = DatadogThroughputScenario, DatadogResourcesScenario, "Datadog sink"
	}
	thr := report.Result{Scenario: thrName + ", " + sc.enc, Params: params, Seconds: took.Seconds()}
	res := report.Result{Scenario: resName + ", " + sc.enc, Params: params}
	for _, oc := range done {
		if oc.kind == k || oc.kind == rawKind {
			thr.Runs = append(thr.Runs, oc.run(n))
		}
	}

	sink, sinks := best(done, k)
	raw, raws := best(done, rawKind)
	rate := func(oc outcome) float64 { return n / oc.Elapsed.Seconds() }
	rawName := fmt.Sprintf("raw franz-go consume (best of %d)", raws)
	var goal *report.Goal
	if k == S3Sink {
		goal = report.RatioAtLeast(0.90) // issue 4; issue 5 sets no such goal for Datadog
	}
	head := report.Compare(fmt.Sprintf("%s drain of %d events queued while it was stopped (best of %d)", sinkName, sc.n, sinks), "events/s", rate(sink), rate(raw), rawName, goal)
	head.Headline = true
	thr.Figures = append(thr.Figures, head)
	if s := sink.SteadyRate(); s > 0 {
		thr.Figures = append(thr.Figures, report.Compare(sinkName+" steady rate, first to last commit", "events/s", s, rate(raw), rawName, nil))
	}
	thr.Differences = []string{
		"both are separate processes timed alike: from process start until the group's committed offsets (kadm, polled every 50ms) reach the backlog's end offsets; both include start-up and joining the group",
		"same consumer settings: read_committed, earliest offset, and the sink's fetch limits (1 MiB per fetch, 256 KiB per partition)",
		"the raw consumer only reads, and commits once at the end; the sink decodes each record (" + sc.enc + ", with the contract headers), validates it, batches it per partition, delivers each batch, and commits each partition's watermark after each delivery",
	}
	thr.Notes = append(thr.Notes, fmt.Sprintf("the backlog is %d events spread evenly over %d partitions, each holding whole batches of max_events %d (the connector's default batch limits): the drain ends with the last full batch, without a final wait of max_age (%v) for partial ones",
		sc.n, cluster.Partitions, batch.MaxEvents, batch.MaxAge.D()))

	// The goals are ceilings, so each side's highest CPU and peak RSS over
	// its runs count, not those of its fastest run.
	sinkCPU, sinkRSS := worst(done, k)
	rawCPU, rawRSS := worst(done, rawKind)
	cpu := report.Compare(fmt.Sprintf("%s CPU per 1M events (most of %d)", sinkName, sinks), "CPU-s", perM(sinkCPU, n), perM(rawCPU, n), "raw franz-go consume", report.AtMost(15))
	cpu.Claim = report.ClaimCPU
	rss := report.Compare(fmt.Sprintf("%s peak RSS draining %d events (most of %d)", sinkName, sc.n, sinks), "MiB", mib(sinkRSS), mib(rawRSS), "raw franz-go consume", report.AtMost(256))
	rss.Claim = report.ClaimRSS
	res.Figures = append(res.Figures, cpu, rss)
	// MinIO and the intake serve the sink alone: the raw consumer has no
	// counterpart to compare with.
	for _, other := range []string{"minio", "intake"} {
		if d := sink.Others[other]; d > 0 {
			res.Figures = append(res.Figures, report.Compare(fmt.Sprintf("%s CPU per 1M events (fastest sink run)", other), "CPU-s", perM(d, n), 0, "", nil))
		}
	}
	if d := sink.Others["broker"]; d > 0 {
		res.Figures = append(res.Figures, report.Compare("broker CPU per 1M events (fastest runs)", "CPU-s", perM(d, n), perM(raw.Others["broker"], n), "raw franz-go consume", nil))
	}
	for _, oc := range done {
		if oc.kind == k || oc.kind == rawKind {
			res.Runs = append(res.Runs, oc.run(n))
		}
	}
	res.Differences = []string{
		"CPU is utime+stime from /proc/<pid>/stat and peak RSS is VmHWM from /proc/<pid>/status, read the moment the drain is seen complete; both include start-up",
		fmt.Sprintf("the figures are the highest over the sink's runs of scenario %s, against the highest over the raw consumer's", thrName[:1]),
	}
	if k == S3Sink {
		res.Differences = append(res.Differences, "MinIO (and the broker) run on the same 2 cores: their CPU time over the fastest sink run is shown, and is not the sink's")
	} else {
		res.Differences = append(res.Differences, "the intake test server is a child process of its own on the same 2 cores: its CPU time is shown apart, and is not the sink's; it keeps no logs during the drain (they are dropped every second), only its stats")
	}
	res.Seconds = 0 // measured within the throughput scenario

	switch k {
	case S3Sink:
		objects := drain.Sum(sink.Metrics, "auditstream_s3_objects_written_total")
		if objects > 0 {
			per := drain.Sum(sink.Metrics, "auditstream_s3_events_written_total") / objects
			thr.Figures = append(thr.Figures, report.Compare("objects: mean events per object, in % of max_events (fastest run)", "%", 100*per/float64(batch.MaxEvents), 0, "", nil))
			thr.Notes = append(thr.Notes, fmt.Sprintf("the fastest drain wrote %.0f objects, %.0f events each on average (max_events %d): 100%% means every object was full", objects, per, batch.MaxEvents))
		}
	case DatadogSink:
		share, st := fullShare(done)
		f := report.Compare("requests carrying 1000 entries while draining (fewest of the sink's runs)", "%", share, 0, "", report.AtLeast(fullBatchGoal))
		f.Claim = report.ClaimDatadog
		thr.Figures = append(thr.Figures, f)
		thr.Notes = append(thr.Notes, fmt.Sprintf("from the intake's stats (GET /_intake/stats, reset before each drain): in the run with the fewest full requests, %d requests were accepted, %d of them with 1000 entries; %d entries were accepted for %d events",
			st.accepted(), st.EntriesPerRequest[1000], st.EntriesAccepted, sc.n))
		thr.Differences = append(thr.Differences, "the sink also maps each event to a log (JSON message, tags), gzips each request and sends it over HTTP to the intake test server, which decodes and checks it on the same cores")
		wire := func(oc outcome) float64 { return float64(oc.intake.BytesReceived) / n }
		res.Figures = append(res.Figures, report.Compare("Datadog sink gzip bytes per event, compression_level 6 (default; fastest run)", "B", wire(sink), 0, "", nil))
		if fast != nil {
			res.Figures = append(res.Figures,
				report.Compare("Datadog sink CPU per 1M events, compression_level 1 (one run)", "CPU-s", perM(fast.Stat.CPU, n), perM(sinkCPU, n), "compression_level 6 (most of the runs above)", nil),
				report.Compare("Datadog sink gzip bytes per event, compression_level 1", "B", wire(*fast), wire(sink), "compression_level 6 (fastest run)", nil),
			)
			res.Runs = append(res.Runs, fast.run(n))
		}
	}
	return []report.Result{thr, res}
}

// fullShare is the lowest share, in percent, of accepted intake requests
// that carried 1000 entries over the sink's runs, and that run's stats.
func fullShare(done []outcome) (float64, intakeStats) {
	low, lowStats := -1.0, intakeStats{}
	for _, oc := range done {
		if oc.kind != DatadogSink {
			continue
		}
		share := 0.0
		if a := oc.intake.accepted(); a > 0 {
			share = 100 * float64(oc.intake.EntriesPerRequest[1000]) / float64(a)
		}
		if low < 0 || share < low {
			low, lowStats = share, oc.intake
		}
	}
	return max(low, 0), lowStats
}

// perM is CPU time per million of n events, in seconds.
func perM(d time.Duration, n float64) float64 { return d.Seconds() / n * 1e6 }

// mib is bytes in MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// best returns the fastest of the runs of kind k, and how many there were.
func best(done []outcome, k Kind) (outcome, int) {
	var b outcome
	n := 0
	for _, oc := range done {
		if oc.kind != k {
			continue
		}
		n++
		if n == 1 || oc.Elapsed < b.Elapsed {
			b = oc
		}
	}
	return b, n
}

// worst returns the highest CPU time and peak RSS of the runs of kind k.
func worst(done []outcome, k Kind) (cpu time.Duration, rss int64) {
	for _, oc := range done {
		if oc.kind == k {
			cpu, rss = max(cpu, oc.Stat.CPU), max(rss, oc.Stat.PeakRSS)
		}
	}
	return cpu, rss
}

// run is the report's record of one drain of n events.
func (oc outcome) run(n float64) report.Run {
	r := report.NewRun(oc.name, int64(n), oc.Elapsed)
	r.Extra = map[string]float64{
		"cpu_s": oc.Stat.CPU.Seconds(), "cpu_s_per_M": oc.Stat.CPU.Seconds() / n * 1e6,
		"peak_rss_mib": float64(oc.Stat.PeakRSS) / (1 << 20),
	}
	for name, d := range oc.Others {
		r.Extra[name+"_cpu_s_per_M"] = d.Seconds() / n * 1e6
	}
	if oc.kind == rawKind || oc.kind == floorKind {
		return r
	}
	m := oc.Metrics
	if len(oc.Progress) > 0 {
		r.Extra["first_commit_s"] = oc.Progress[0].At.Seconds()
	}
	if s := oc.SteadyRate(); s > 0 {
		r.Extra["steady_events_per_s"] = s
	}
	r.Extra["retries"] = drain.Sum(m, "auditstream_sink_retries_total")
	r.Extra["dlq"] = drain.Sum(m, "auditstream_sink_dlq_total")
	if c := drain.Sum(m, "auditstream_sink_write_seconds_count"); c > 0 {
		r.Extra["batches"] = c
		r.Extra["write_ms_mean"] = drain.Sum(m, "auditstream_sink_write_seconds_sum") / c * 1000
	}
	if c := drain.Sum(m, "auditstream_sink_batch_events_count"); c > 0 {
		r.Extra["events_per_batch"] = drain.Sum(m, "auditstream_sink_batch_events_sum") / c
	}
	if objects := drain.Sum(m, "auditstream_s3_objects_written_total"); objects > 0 {
		r.Extra["objects"] = objects
	}
	if a := oc.intake.accepted(); a > 0 {
		r.Extra["requests"] = float64(a)
		r.Extra["full_requests_pct"] = 100 * float64(oc.intake.EntriesPerRequest[1000]) / float64(a)
		r.Extra["entries_accepted"] = float64(oc.intake.EntriesAccepted)
		r.Extra["rejected_requests"] = float64(oc.intake.Requests - a)
	}
	return r
}
