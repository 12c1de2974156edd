// Package report holds what the benchmark measures, as JSON, and prints it
// as a table: each figure of ours next to its raw franz-go baseline from the
// same run, their ratio, and the goal it is checked against.
package report

import (
	"fmt"
	"time"
)

// Goal is a target for a figure: its ratio, or its own value, must be at
// least (">=") or at most ("<=") Value.
type Goal struct {
	Of    string  `json:"of"` // "ratio" or "ours"
	Op    string  `json:"op"` // ">=" or "<="
	Value float64 `json:"value"`
}

// RatioAtLeast is the goal "ours/raw >= v".
func RatioAtLeast(v float64) *Goal { return &Goal{Of: "ratio", Op: ">=", Value: v} }

// RatioAtMost is the goal "ours/raw <= v".
func RatioAtMost(v float64) *Goal { return &Goal{Of: "ratio", Op: "<=", Value: v} }

// AtLeast is the goal "ours >= v".
func AtLeast(v float64) *Goal { return &Goal{Of: "ours", Op: ">=", Value: v} }

// AtMost is the goal "ours <= v".
func AtMost(v float64) *Goal { return &Goal{Of: "ours", Op: "<=", Value: v} }

// String reads like "ratio >= 0.90" or "<= 150".
func (g Goal) String() string {
	if g.Of == "ratio" {
		return fmt.Sprintf("ratio %s %.2f", g.Op, g.Value)
	}
	return fmt.Sprintf("%s %g", g.Op, g.Value)
}

// met reports whether f meets the goal.
func (g Goal) met(f Figure) bool {
	v := f.Ours
	if g.Of == "ratio" {
		v = f.Ratio
	}
	if g.Op == "<=" {
		return v <= g.Value
	}
	return v >= g.Value
}

// Figure is one number of ours against its raw baseline.
type Figure struct {
	Name string  `json:"name"`
	Unit string  `json:"unit"`
	Ours float64 `json:"ours"`
	// Raw is the baseline's figure and Baseline what the baseline is; both
	// are empty when the figure has no baseline.
	Raw      float64 `json:"raw,omitempty"`
	Baseline string  `json:"baseline,omitempty"`
	// Ratio is Ours/Raw.
	Ratio    float64 `json:"ratio,omitempty"`
	Goal     *Goal   `json:"goal,omitempty"`
	Pass     *bool   `json:"pass,omitempty"`
	Headline bool    `json:"headline,omitempty"`
	// Claim is the project goal (one of Claims) the figure is checked
	// for, when it is one of them.
	Claim string `json:"claim,omitempty"`
}

// Compare makes a figure of ours against raw, checked against goal (nil:
// reported only).
func Compare(name, unit string, ours, raw float64, baseline string, goal *Goal) Figure {
	f := Figure{Name: name, Unit: unit, Ours: ours, Raw: raw, Baseline: baseline, Goal: goal}
	if raw != 0 {
		f.Ratio = ours / raw
	}
	if goal != nil {
		pass := goal.met(f)
		f.Pass = &pass
	}
	return f
}

// Run is one measurement: one pass of ours or of a baseline.
type Run struct {
	Name    string  `json:"name"`
	Events  int64   `json:"events"`
	Seconds float64 `json:"seconds"`
	// Rate is events per second.
	Rate  float64            `json:"events_per_second,omitempty"`
	Extra map[string]float64 `json:"extra,omitempty"`
}

// NewRun makes a Run of n events in d.
func NewRun(name string, n int64, d time.Duration) Run {
	r := Run{Name: name, Events: n, Seconds: d.Seconds()}
	if d > 0 {
		r.Rate = float64(n) / d.Seconds()
	}
	return r
}

// Result is one scenario's outcome.
type Result struct {
	Scenario string         `json:"scenario"`
	Params   map[string]any `json:"params"`
	Figures  []Figure       `json:"figures"`
	Runs     []Run          `json:"runs"`
	// Differences says what differs between ours and the baseline, beyond
	// the thing being measured.
	Differences []string `json:"differences"`
	Notes       []string `json:"notes,omitempty"`
	Seconds     float64  `json:"seconds"`
	// NotRun, when set, says why the scenario was not measured; it then
	// has no figures.
	NotRun string `json:"not_run,omitempty"`
}

// Host is where the report was made.
type Host struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model,omitempty"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	Go          string `json:"go"`
	Brokers     string `json:"brokers"`
	// Versions are the versions of what ran, by name (Kafka, MinIO,
	// franz-go, ...).
	Versions map[string]string `json:"versions,omitempty"`
}

// Report is a whole `make bench`.
type Report struct {
	Started time.Time `json:"started"`
	// Seconds is how long the whole run took, when known.
	Seconds float64 `json:"seconds,omitempty"`
	// Command is how the run was started.
	Command string   `json:"command,omitempty"`
	Host    Host     `json:"host"`
	Scale   float64  `json:"scale"`
	Results []Result `json:"results"`
}
