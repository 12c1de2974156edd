package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The project's performance goals (issue 14). A figure checked for one of
// them names it in its Claim; the summary lists every goal, measured or not.
const (
	ClaimProducer = "Producer SDK >= 1.0x franz-go + proto.Marshal"
	ClaimRouter   = "Router >= 0.80x PIPE, transactional"
	ClaimFloor    = "S3 sink CPU per event <= 1.5x the floor's"
	ClaimCPU      = "<= 15 CPU-s per million events for each stage, on protobuf and on JSON"
	ClaimRSS      = "Router RSS <= 150 MiB; sinks <= 256 MiB while draining 1M events"
	ClaimE2E      = "End-to-end p99 to S3 <= max_age + 2 s"
	ClaimDatadog  = "Datadog: >= 95% of requests full while draining"
)

// Claims are the goals in the order the summary lists them.
var Claims = []string{ClaimProducer, ClaimRouter, ClaimFloor, ClaimCPU, ClaimRSS, ClaimE2E, ClaimDatadog}

// Verdicts of a goal.
const (
	Met         = "met"
	Missed      = "MISS"
	NotMeasured = "not measured"
)

// GoalStatus is one goal and the figures it was checked with.
type GoalStatus struct {
	Claim   string
	Verdict string // Met, Missed or NotMeasured
	// Checks are the figures, one line each: "scenario: figure = value
	// (goal) PASS|MISS".
	Checks []string
}

// Goals checks every claim against the report's figures: met when every
// figure for it passes, MISS when one does not, not measured when none is
// there (its scenario failed or was not run).
func (r *Report) Goals() []GoalStatus {
	var out []GoalStatus
	for _, c := range Claims {
		g := GoalStatus{Claim: c, Verdict: NotMeasured}
		for _, res := range r.Results {
			for _, f := range res.Figures {
				if f.Claim != c || f.Pass == nil {
					continue
				}
				if g.Verdict == NotMeasured {
					g.Verdict = Met
				}
				verdict := "PASS"
				if !*f.Pass {
					g.Verdict, verdict = Missed, "MISS"
				}
				g.Checks = append(g.Checks, fmt.Sprintf("%s: %s = %s (%s) %s", res.Scenario, f.Name, f.checked(), f.Goal, verdict))
			}
		}
		out = append(out, g)
	}
	return out
}

// checked is the value a figure's goal looks at: its ratio, with both
// sides, or its own value.
func (f Figure) checked() string {
	if f.Goal != nil && f.Goal.Of == "ratio" {
		return fmt.Sprintf("%.2fx (%s against %s %s)", f.Ratio, value(f.Ours, f.Unit), f.Baseline, value(f.Raw, f.Unit))
	}
	return value(f.Ours, f.Unit)
}

// SortResults orders results by the number their scenario name starts
// with, keeping the order of those with the same number (or none, last).
func SortResults(rs []Result) {
	num := func(r Result) int {
		n, err := strconv.Atoi(strings.SplitN(r.Scenario, " ", 2)[0])
		if err != nil {
			return math.MaxInt
		}
		return n
	}
	slices.SortStableFunc(rs, func(a, b Result) int { return cmp.Compare(num(a), num(b)) })
}
