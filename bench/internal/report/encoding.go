package report

import (
	"fmt"
	"strings"
)

// EncodingScenario names the comparison of JSON values against protobuf.
const EncodingScenario = "13 JSON against protobuf values"

// CompareEncodings returns, for every stage measured on both encodings
// (scenarios named "<name>, protobuf" and "<name>, JSON"), its CPU per
// million events on JSON against protobuf, and what JSON costs more, the
// figure a router normalizing every value to protobuf would pay once
// instead of once per connector. ok is false when no stage ran on both.
func CompareEncodings(rs []Result) (res Result, ok bool) {
	proto := map[string]Figure{}
	for _, r := range rs {
		if r.Scenario == EncodingScenario {
			return Result{}, false // already compared (a whole report read back)
		}
		base, found := strings.CutSuffix(r.Scenario, ", protobuf")
		if !found {
			continue
		}
		for _, f := range r.Figures {
			if f.Claim == ClaimCPU {
				proto[base+"\x00"+f.Name] = f
			}
		}
	}
	res = Result{Scenario: EncodingScenario, Params: map[string]any{}}
	var extra []string
	for _, r := range rs {
		base, found := strings.CutSuffix(r.Scenario, ", JSON")
		if !found {
			continue
		}
		for _, f := range r.Figures {
			p, found := proto[base+"\x00"+f.Name]
			if f.Claim != ClaimCPU || !found {
				continue
			}
			res.Figures = append(res.Figures, Compare(f.Name+", JSON", f.Unit, f.Ours, p.Ours, "the same on protobuf", nil))
			extra = append(extra, fmt.Sprintf("%s: %+.2f %s per 1M events", base, f.Ours-p.Ours, f.Unit))
		}
	}
	if len(res.Figures) == 0 {
		return res, false
	}
	res.Notes = []string{
		"what JSON values cost over protobuf, by stage: " + strings.Join(extra, "; "),
		"a sink pays its surcharge once per connector that reads the event; the router's own surcharge (when listed) is paid once per event: a router that normalized every value to protobuf would add one protobuf encode per event to it, and spare every connector's sink its surcharge",
	}
	return res, true
}
