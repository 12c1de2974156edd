package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Print writes the report as a table of figures, then each scenario's
// differences and notes.
func (r *Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "Auditstream benchmark, %s, scale %g, %d CPUs, %s, Kafka at %s\n\n",
		r.Started.Format("2006-01-02 15:04:05 MST"), r.Scale, r.Host.CPUs, r.Host.Go, r.Host.Brokers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tOURS\tRAW\tBASELINE\tRATIO\tGOAL\tRESULT")
	for _, res := range r.Results {
		if res.NotRun != "" {
			fmt.Fprintf(tw, "%s\tnot run: %s\t-\t-\t-\t-\t-\tnot run\n", res.Scenario, res.NotRun)
		}
		for _, f := range res.Figures {
			name := f.Name
			if f.Headline {
				name = "* " + name
			}
			raw, ratio := "-", "-"
			if f.Baseline != "" {
				raw, ratio = value(f.Raw, f.Unit), fmt.Sprintf("%.2f", f.Ratio)
			}
			goal, verdict := "-", "info"
			if f.Goal != nil {
				goal, verdict = f.Goal.String(), "PASS"
				if !*f.Pass {
					verdict = "MISS"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				res.Scenario, name, value(f.Ours, f.Unit), raw, orDash(f.Baseline), ratio, goal, verdict)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print table: %w", err)
	}
	fmt.Fprintln(w, "\n* headline figure. Ratios are ours/raw from the same run on the same broker.")
	fmt.Fprintln(w, "\nGoals:")
	for _, g := range r.Goals() {
		fmt.Fprintf(w, "  [%s] %s\n", g.Verdict, g.Claim)
		for _, c := range g.Checks {
			fmt.Fprintf(w, "      %s\n", c)
		}
	}
	for _, res := range r.Results {
		took := ""
		if res.Seconds > 0 {
			took = fmt.Sprintf(" (%.0f s)", res.Seconds)
		}
		fmt.Fprintf(w, "\n%s%s:\n", res.Scenario, took)
		for _, run := range res.Runs {
			fmt.Fprintf(w, "  run %-44s %8d events in %6.2f s = %s%s\n", run.Name, run.Events, run.Seconds, value(run.Rate, "events/s"), extras(run.Extra))
		}
		for _, d := range res.Differences {
			fmt.Fprintf(w, "  differs: %s\n", d)
		}
		for _, n := range res.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// value formats v in its unit: rates with thousands separators, the rest
// with two decimals.
func value(v float64, unit string) string {
	if unit == "events/s" {
		return thousands(int64(v+0.5)) + "/s"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + unit
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func extras(m map[string]float64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, ", %s=%s", k, strconv.FormatFloat(m[k], 'g', 6, 64))
	}
	return b.String()
}
