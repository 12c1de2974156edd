package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestGoals(t *testing.T) {
	pass := Compare("a", "CPU-s", 10, 0, "", AtMost(15))
	pass.Claim = ClaimCPU
	miss := Compare("b", "CPU-s", 20, 0, "", AtMost(15))
	miss.Claim = ClaimCPU
	prod := Compare("p", "events/s", 90, 100, "by hand", RatioAtLeast(1))
	prod.Claim = ClaimProducer
	info := Compare("i", "MiB", 1, 0, "", nil)
	info.Claim = ClaimRSS // no goal: not a check
	r := Report{Results: []Result{
		{Scenario: "s1", Figures: []Figure{pass, info}},
		{Scenario: "s2", Figures: []Figure{miss, prod}},
	}}
	got := map[string]GoalStatus{}
	for _, g := range r.Goals() {
		got[g.Claim] = g
	}
	if len(got) != len(Claims) {
		t.Fatalf("got %d goals, want every one of the %d claims", len(got), len(Claims))
	}
	tests := []struct {
		claim   string
		verdict string
		checks  int
	}{
		{ClaimCPU, Missed, 2},
		{ClaimProducer, Missed, 1},
		{ClaimRSS, NotMeasured, 0},
		{ClaimRouter, NotMeasured, 0},
	}
	for _, tt := range tests {
		g := got[tt.claim]
		if g.Verdict != tt.verdict || len(g.Checks) != tt.checks {
			t.Errorf("%s: got %s with %d checks %q, want %s with %d", tt.claim, g.Verdict, len(g.Checks), g.Checks, tt.verdict, tt.checks)
		}
	}
	if c := got[ClaimProducer].Checks[0]; !strings.Contains(c, "0.90x") || !strings.HasSuffix(c, "MISS") {
		t.Errorf("producer check: got %q, want the ratio 0.90x and MISS", c)
	}

	r.Results[1].Figures = []Figure{prod}
	r.Results[1].Figures[0] = Compare("p", "events/s", 110, 100, "by hand", RatioAtLeast(1))
	r.Results[1].Figures[0].Claim = ClaimProducer
	for _, g := range r.Goals() {
		if g.Claim == ClaimCPU && g.Verdict != Met {
			t.Errorf("cpu with only passing figures: got %s, want %s", g.Verdict, Met)
		}
		if g.Claim == ClaimProducer && g.Verdict != Met {
			t.Errorf("producer at 1.10x: got %s, want %s", g.Verdict, Met)
		}
	}
}

func TestMarkdown(t *testing.T) {
	f := Compare("drain | rate", "events/s", 50, 100, "peer", RatioAtLeast(0.8))
	f.Claim = ClaimRouter
	r := Report{
		Started: time.Date(2026, 11, 30, 1, 2, 0, 0, time.UTC), Seconds: 125, Command: "make bench", Scale: 0.05,
		Host: Host{CPUs: 2, CPUModel: "Some CPU", MemoryBytes: 8 << 30, Go: "go1.26", Versions: map[string]string{"Kafka": "4.1.1", "franz-go": "v1.22.3"}},
		Results: []Result{
			{Scenario: "3 router", Figures: []Figure{f}, Notes: []string{"a note"}},
			{Scenario: "12 peer", NotRun: "bench/peer/drain.sh not found"},
		},
	}
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"2026-11-30 01:02 UTC, 2 min 05 s", "`make bench`", "NOT the full run", "2 cores, Some CPU, 8.0 GiB memory",
		"Go go1.26, Kafka 4.1.1, franz-go v1.22.3",
		"| " + ClaimRouter + " | MISS |", "| " + ClaimProducer + " | not measured |",
		`drain \| rate`, "| 12 peer | not run: bench/peer/drain.sh not found |", "- note: a note",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| 3 router") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 9 {
			t.Errorf("line %d: a figure row has the wrong number of cells: %q", i+1, line)
		}
	}
}

func TestSortResults(t *testing.T) {
	rs := []Result{{Scenario: "3 router, protobuf"}, {Scenario: "12 peer"}, {Scenario: "x"}, {Scenario: "3 router, JSON"}, {Scenario: "7 e2e"}, {Scenario: "1 producer"}}
	SortResults(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.Scenario)
	}
	want := []string{"1 producer", "3 router, protobuf", "3 router, JSON", "7 e2e", "12 peer", "x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
