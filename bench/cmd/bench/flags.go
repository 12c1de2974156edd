package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
)

// common are the flags every scenario shares.
type common struct {
	brokers string
	json    bool
	pool    int
	seed    uint64
	cpuProf string
	enc     string
}

func (c *common) register(fs *flag.FlagSet) {
	c.registerBrokers(fs)
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
	fs.IntVar(&c.pool, "pool", 50_000, "distinct events generated and cycled through")
	fs.Uint64Var(&c.seed, "seed", 1, "loadgen seed")
	fs.StringVar(&c.cpuProf, "cpuprofile", "", "write a CPU profile of this process (the in-process scenarios: produce, latency) to `file`")
	fs.StringVar(&c.enc, "encoding", "protobuf", "the encoding of the events' values: protobuf or json (with the contract headers either way)")
}

// registerBrokers registers --brokers alone, for the passthrough.
func (c *common) registerBrokers(fs *flag.FlagSet) {
	fs.StringVar(&c.brokers, "brokers", os.Getenv("AUDITSTREAM_BROKERS"), "Kafka brokers, comma-separated")
}

// profiled runs f under a CPU profile when --cpuprofile is set.
func (c *common) profiled(f func() error) error {
	if c.cpuProf == "" {
		return f()
	}
	out, err := os.Create(c.cpuProf)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return f()
}

func (c *common) brokerList() ([]string, error) {
	if c.brokers == "" {
		return nil, usageError{"no brokers: set --brokers or AUDITSTREAM_BROKERS (stack/up.sh kafka writes it to .stack/env)"}
	}
	return strings.Split(c.brokers, ","), nil
}

func (c *common) newPool(events int) (*workload.Pool, error) {
	enc, err := workload.ParseEncoding(c.enc)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return workload.NewPool(min(c.pool, max(events, 1)), c.seed, enc)
}

// emit prints results: JSON for run.sh, or a table for a person.
func (c *common) emit(w io.Writer, rs ...report.Result) error {
	if c.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rs); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		return nil
	}
	r := report.Report{Started: time.Now(), Scale: 1, Host: report.Host{CPUs: runtime.NumCPU(), Go: runtime.Version(), Brokers: c.brokers}, Results: rs}
	return r.Print(w)
}

// durations parses "100ms,1s".
func durations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, usageError{fmt.Sprintf("bad duration %q in %q", f, s)}
		}
		out = append(out, d)
	}
	return out, nil
}

// selfAndLogDir returns this program, which the drains run as their raw
// baseline, and the directory for the runs' logs: dir, or a new temporary
// one when dir is empty.
func selfAndLogDir(dir string) (self, logs string, err error) {
	if self, err = os.Executable(); err != nil {
		return "", "", fmt.Errorf("find this program: %w", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench"); err != nil {
			return "", "", fmt.Errorf("log directory: %w", err)
		}
	}
	return self, dir, nil
}
