package report

import (
	"strings"
	"testing"

	"github.com/auditstream/auditstream/chaos/internal/check"
)

func TestJudge(t *testing.T) {
	ok := true
	base := func() Result {
		return Result{Events: 10, Bad: 2, InTopic: 12, Drained: true,
			Deliveries: []check.Delivery{{Connector: "s3", Type: "s3", VerifyOK: &ok}, {Connector: "dd", Type: "datadog"}}}
	}
	tests := []struct {
		name   string
		change func(*Result)
		want   string // a failure that must be named; empty: a pass
	}{
		{"pass", func(*Result) {}, ""},
		{"datadog duplicates pass", func(r *Result) { r.Deliveries[1].Duplicated = 5 }, ""},
		{"s3 duplicate", func(r *Result) { r.Deliveries[0].Duplicated = 1 }, "more than once"},
		{"loss", func(r *Result) { r.Deliveries[1].Lost = 1 }, "dd lost 1"},
		{"leak", func(r *Result) { r.Deliveries[0].Leaked = 1 }, "filter rejects"},
		{"dlq missing", func(r *Result) { r.DLQ.Missing = 1 }, "not in the DLQ"},
		{"short input", func(r *Result) { r.InTopic = 11 }, "holds 11 records"},
		{"no drain", func(r *Result) { r.Drained = false }, "did not drain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(&r)
			r.Judge()
			got := strings.Join(r.Failures, "\n")
			if tt.want == "" && !r.OK() || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("got failures %q, want %q", got, tt.want)
			}
		})
	}
}
