package report

import (
	"strings"
	"testing"
)

func TestCompareEncodings(t *testing.T) {
	cpu := func(name string, v float64) Figure {
		f := Compare(name, "CPU-s", v, 1, "raw", AtMost(15))
		f.Claim = ClaimCPU
		return f
	}
	rss := Compare("rss", "MiB", 100, 0, "", AtMost(256))
	rs := []Result{
		{Scenario: "6 s3, protobuf", Figures: []Figure{cpu("s3 cpu", 8), rss}},
		{Scenario: "6 s3, JSON", Figures: []Figure{cpu("s3 cpu", 20), rss}},
		{Scenario: "4 router, JSON", Figures: []Figure{cpu("router cpu", 5)}}, // no protobuf twin
	}
	res, ok := CompareEncodings(rs)
	if !ok || len(res.Figures) != 1 {
		t.Fatalf("got ok=%v with %d figures, want one figure", ok, len(res.Figures))
	}
	f := res.Figures[0]
	if f.Ours != 20 || f.Raw != 8 || f.Ratio != 2.5 || f.Goal != nil {
		t.Errorf("got %+v, want JSON 20 against protobuf 8, ratio 2.5, no goal", f)
	}
	if !strings.Contains(res.Notes[0], "6 s3: +12.00 CPU-s") {
		t.Errorf("note: got %q, want the surcharge of +12.00 CPU-s", res.Notes[0])
	}
	if _, ok := CompareEncodings(rs[2:]); ok {
		t.Error("with no stage on both encodings: got ok, want none")
	}
}
