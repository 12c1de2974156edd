// Package report is a chaos run's result: the faults injected and how long
// the pipeline took to recover from each, what every connector got, what the
// dead-letter topic holds, and the verdict.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditstream/auditstream/chaos/internal/check"
	"github.com/auditstream/auditstream/chaos/internal/fleet"
	"github.com/auditstream/auditstream/chaos/internal/plan"
)

// Fault is a fault as injected.
type Fault struct {
	plan.Step
	// Took is how long injecting it took (a broker restart, a replay).
	Took time.Duration `json:"took"`
	// Recovery is the time from the fault's end until the groups it
	// touched committed again (or were drained).
	Recovery  time.Duration `json:"recovery"`
	Recovered bool          `json:"recovered"`
	Note      string        `json:"note,omitempty"`
	Err       string        `json:"error,omitempty"`
}

// Result is a whole run.
type Result struct {
	Seed    uint64        `json:"seed"`
	Short   bool          `json:"short"`
	RunID   string        `json:"run_id"`
	Dir     string        `json:"dir"`
	Elapsed time.Duration `json:"elapsed"`

	Events  int            `json:"events"`
	Bad     int            `json:"bad_records"`
	Methods map[string]int `json:"events_by_method"`
	// InTopic is the number of records in the events topic after
	// publishing; it must be Events+Bad.
	InTopic int64 `json:"records_in_events_topic"`

	Faults     []Fault          `json:"faults"`
	Crashes    []fleet.Crash    `json:"crashes,omitempty"`
	Drained    bool             `json:"drained"`
	DrainTime  time.Duration    `json:"drain_time"`
	Deliveries []check.Delivery `json:"deliveries"`
	DLQ        check.DLQ        `json:"dlq"`
	Errors     []string         `json:"errors,omitempty"`
	Failures   []string         `json:"failures"`
}

// Judge fills in Failures: any loss, any S3 duplicate, any leak, any bad
// record not dead-lettered with its reason, a failed verify, a fault that
// could not be injected, a pipeline
// that did not drain, or an input that did not all reach the events topic.
func (r *Result) Judge() {
	var f []string
	if want := int64(r.Events + r.Bad); r.InTopic != want {
		f = append(f, fmt.Sprintf("events topic holds %d records, %d were sent", r.InTopic, want))
	}
	if !r.Drained {
		f = append(f, "the pipeline did not drain")
	}
	for _, d := range r.Deliveries {
		if d.Lost > 0 {
			f = append(f, fmt.Sprintf("%s lost %d events (e.g. %s)", d.Connector, d.Lost, strings.Join(d.LostIDs, ", ")))
		}
		if d.Type == "s3" && d.Duplicated > 0 {
			f = append(f, fmt.Sprintf("%s archived %d events more than once (e.g. %s)", d.Connector, d.Duplicated, strings.Join(d.DupIDs, ", ")))
		}
		if d.Leaked > 0 {
			f = append(f, fmt.Sprintf("%s received %d events its filter rejects (e.g. %s)", d.Connector, d.Leaked, strings.Join(d.LeakedIDs, ", ")))
		}
		if d.VerifyOK != nil && !*d.VerifyOK {
			f = append(f, fmt.Sprintf("sink verify failed on %s: %s", d.Connector, d.VerifyError))
		}
	}
	if r.DLQ.Missing > 0 {
		f = append(f, fmt.Sprintf("%d bad records are not in the DLQ (e.g. %s)", r.DLQ.Missing, strings.Join(r.DLQ.MissingKeys, ", ")))
	}
	if r.DLQ.WrongReason > 0 {
		f = append(f, fmt.Sprintf("%d dead letters have the wrong reason (e.g. %s)", r.DLQ.WrongReason, strings.Join(r.DLQ.WrongReasons, "; ")))
	}
	for _, x := range r.Faults {
		if x.Err != "" {
			f = append(f, fmt.Sprintf("fault %s %s at t+%s: %s", x.Kind, x.Target, x.At.Round(time.Second), x.Err))
		}
	}
	for _, e := range r.Errors {
		f = append(f, "run error: "+e)
	}
	r.Failures = f
}

// OK reports whether the run passed.
func (r *Result) OK() bool { return len(r.Failures) == 0 }

// JSON writes the result as JSON.
func (r *Result) JSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// Table writes the result as tables.
func (r *Result) Table(w io.Writer) {
	fmt.Fprintf(w, "\nchaos run %s: seed %d%s, %s\n", r.RunID, r.Seed, map[bool]string{true: " (short)"}[r.Short], r.Elapsed.Round(time.Second))
	methods := make([]string, 0, len(r.Methods))
	for m, n := range r.Methods {
		methods = append(methods, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(methods)
	fmt.Fprintf(w, "input: %d events (%s), %d bad records; events topic holds %d\n", r.Events, strings.Join(methods, ", "), r.Bad, r.InTopic)

	fmt.Fprintln(w, "\nfaults")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  at\tfault\ttarget\tdown\ttook\trecovery\tnote")
	for _, f := range r.Faults {
		rec := f.Recovery.Round(100 * time.Millisecond).String()
		if !f.Recovered {
			rec = "NOT after " + rec
		}
		note := f.Note
		if f.Err != "" {
			note = "error: " + f.Err
		}
		fmt.Fprintf(tw, "  t+%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.At.Round(time.Second), f.Kind, dash(f.Target),
			dur(f.Down), dur(f.Took), rec, note)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (recovery: from the fault's end until the consumer groups it touched commit again, or are drained)")
	if len(r.Crashes) > 0 {
		fmt.Fprintln(w, "\nreplicas that exited on their own (restarted)")
		for _, c := range r.Crashes {
			fmt.Fprintf(w, "  t+%s %s: %s\n", c.At.Round(time.Second), c.Name, c.Err)
		}
	}
	fmt.Fprintf(w, "\ndrained: %v after %s\n", r.Drained, r.DrainTime.Round(time.Second))

	fmt.Fprintln(w, "\ndeliveries")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "connector\ttype\texpected\tdelivered\tlost\tduplicated\textra copies\tleaked\tverify\t")
	for _, d := range r.Deliveries {
		v := "-"
		if d.VerifyOK != nil {
			v = map[bool]string{true: "ok", false: "FAILED"}[*d.VerifyOK]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", d.Connector, d.Type, d.Expected, d.Delivered, d.Lost, d.Duplicated, d.Copies, d.Leaked, v)
	}
	tw.Flush()

	kinds := make([]string, 0, len(r.DLQ.ByKind))
	for k, n := range r.DLQ.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "\ndead letters: %d of %d bad records, with their reason (%s); missing %d, wrong reason %d, twice %d\n",
		r.DLQ.DeadLettered, r.DLQ.Expected, strings.Join(kinds, ", "), r.DLQ.Missing, r.DLQ.WrongReason, r.DLQ.Duplicated)
	for k, n := range r.DLQ.Unexpected {
		fmt.Fprintf(w, "  unexpected dead letters: %s: %d\n", k, n)
	}
	if r.OK() {
		fmt.Fprintf(w, "\nPASS (seed %d)\n", r.Seed)
		return
	}
	fmt.Fprintf(w, "\nFAIL (seed %d; rerun: make chaos SEED=%d%s)\n", r.Seed, r.Seed, map[bool]string{true: " SHORT=1"}[r.Short])
	for _, f := range r.Failures {
		fmt.Fprintln(w, "  - "+f)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}
