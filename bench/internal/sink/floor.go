package sink

import (
	"fmt"

	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/floor"
	"github.com/auditstream/auditstream/bench/internal/report"
)

// floorGoal is how many times the floor's CPU per event the S3 sink may
// spend (issue 14).
const floorGoal = 1.5

// floorResult is scenario 11: the floor's drains, and the S3 sink's CPU
// per event as a multiple of the floor's.
func (sc *scenario) floorResult(done []outcome) report.Result {
	n := float64(sc.n)
	res := report.Result{
		Scenario: FloorScenario + ", " + sc.enc,
		Params:   map[string]any{"events": sc.n, "encoding": sc.enc, "batch": sc.s3Batch()},
	}
	for _, oc := range done {
		if oc.kind == floorKind {
			res.Runs = append(res.Runs, oc.run(n))
		}
	}
	fl, floors := best(done, floorKind)
	floorCPU, floorRSS := worst(done, floorKind)
	rate := func(oc outcome) float64 { return n / oc.Elapsed.Seconds() }
	floorName := fmt.Sprintf("floor (most of %d)", floors)
	if _, ok := sc.kinds[S3Sink]; ok {
		sinkCPU, _ := worst(done, S3Sink)
		head := report.Compare("S3 sink CPU per 1M events, as a multiple of the floor's", "CPU-s", perM(sinkCPU, n), perM(floorCPU, n), floorName, report.RatioAtMost(floorGoal))
		head.Headline, head.Claim = true, report.ClaimFloor
		s3, _ := best(done, S3Sink)
		if objects := drain.Sum(s3.Metrics, "auditstream_s3_objects_written_total"); objects > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("the S3 sink's objects held %.0f events on average in its fastest drain, the floor's %d: the sink writes a partition's batch before max_events once its records fill batch.buffer_bytes, so it makes more, smaller PUTs",
				drain.Sum(s3.Metrics, "auditstream_s3_events_written_total")/objects, sc.s3Batch()))
		}
		res.Figures = append(res.Figures, head,
			report.Compare("S3 sink drain rate (best)", "events/s", rate(s3), rate(fl), fmt.Sprintf("floor (best of %d)", floors), nil))
	}
	res.Figures = append(res.Figures,
		report.Compare(fmt.Sprintf("floor drain rate (best of %d)", floors), "events/s", rate(fl), 0, "", nil),
		report.Compare(fmt.Sprintf("floor CPU per 1M events (most of %d)", floors), "CPU-s", perM(floorCPU, n), 0, "", nil),
		report.Compare(fmt.Sprintf("floor peak RSS (most of %d)", floors), "MiB", mib(floorRSS), 0, "", nil),
	)
	res.Differences = []string{
		fmt.Sprintf("the floor (bench floor) is raw franz-go with the sink's consumer settings (read_committed, 1 MiB/256 KiB fetches): it only consumes, joins each partition's raw %s values by newlines, %d per object (the S3 connector's max_events), gzips them (klauspost/compress, level %d, as the sink) and PUTs each object to the same MinIO with aws-sdk-go-v2, one at a time, committing the partition's offset after each PUT", sc.enc, sc.s3Batch(), floor.Level),
		"the S3 sink also decodes and validates each event, re-encodes it as protojson, checks the headers, writes a manifest per object, tracks watermarks and serves metrics: the multiple is what all of that costs over archiving the bytes as they are",
		"both are timed and read from /proc alike, from process start until the group's committed offsets reach the backlog's end; the sink's figure is the most CPU over its runs, against the floor's most",
	}
	return res
}
