package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/report"
)

// peerRun is the one JSON line bench/peer/drain.sh prints on stdout.
type peerRun struct {
	Events     int64   `json:"events"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
	Objects    int64   `json:"objects"`
	Version    string  `json:"version"`
	// StartupSeconds is how much of Seconds went to Kafka Connect's start
	// (plugin scanning) before the connector ran.
	StartupSeconds float64 `json:"startup_seconds"`
}

// parsePeer reads the peer's line (the last non-blank line of its stdout)
// and checks that it drained want events and measured itself.
func parsePeer(stdout []byte, want int64) (peerRun, error) {
	var p peerRun
	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	last := bytes.TrimSpace(lines[len(lines)-1])
	if len(last) == 0 {
		return p, errors.New("printed nothing on stdout")
	}
	dec := json.NewDecoder(bytes.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("its line %q: %w", last, err)
	}
	switch {
	case p.Events != want:
		return p, fmt.Errorf("it drained %d events, want %d", p.Events, want)
	case p.Seconds <= 0 || p.CPUSeconds <= 0 || p.PeakRSS <= 0:
		return p, fmt.Errorf("its line %q: want seconds, cpu_seconds and peak_rss_bytes > 0", last)
	case p.Objects <= 0:
		return p, fmt.Errorf("its line %q: it wrote no objects", last)
	}
	return p, nil
}

// peerTimeout is how long the peer may take to drain n events: a first
// build of the worker and the connector (cached afterwards), Kafka
// Connect's start, and far more than the sink takes.
func peerTimeout(n int64) time.Duration {
	return 8*time.Minute + time.Duration(n/2000)*time.Second
}

// peer runs the peer's runner once on the backlog, into the same MinIO,
// and compares the S3 sink's drains with it. A runner that is missing or
// fails makes the scenario "not run", with the reason; never a figure.
func (sc *scenario) peer(ctx context.Context, done []outcome) report.Result {
	res := report.Result{
		Scenario: PeerScenario + ", " + sc.enc,
		Params:   map[string]any{"events": sc.n, "encoding": sc.enc, "runner": sc.o.Peer},
	}
	began := time.Now()
	if _, err := os.Stat(sc.o.Peer); err != nil {
		res.NotRun = fmt.Sprintf("%s is absent (%v)", sc.o.Peer, errors.Unwrap(err))
		return res
	}
	group := sc.o.Cluster.Group("peer.group")
	log := filepath.Join(sc.o.LogDir, "peer.log")
	args := []string{"--topic", sc.topic, "--bucket", sc.bucket.name, "--prefix", "peer", "--events", strconv.FormatInt(sc.n, 10), "--group", group}
	sc.o.Log.Info("draining", "run", "peer", "events", sc.n, "runner", sc.o.Peer, "log", log)
	p, err := runPeer(ctx, sc.o.Peer, args, log, sc.n)
	res.Seconds = time.Since(began).Seconds()
	if err != nil {
		res.NotRun = fmt.Sprintf("%s failed: %v (its stderr: %s)", sc.o.Peer, err, log)
		sc.o.Log.Warn("peer not run", "err", err, "log_tail", drain.Tail(log))
		return res
	}
	sc.o.Log.Info("drained", "run", "peer", "seconds", p.Seconds, "cpu_s", p.CPUSeconds, "peak_rss_mib", p.PeakRSS>>20, "objects", p.Objects)
	n := float64(sc.n)
	res.Params["version"] = p.Version
	run := report.NewRun("peer: "+p.Version, p.Events, time.Duration(p.Seconds*float64(time.Second)))
	run.Extra = map[string]float64{"cpu_s": p.CPUSeconds, "cpu_s_per_M": p.CPUSeconds / n * 1e6, "peak_rss_mib": mib(p.PeakRSS), "objects": float64(p.Objects),
		"startup_s": p.StartupSeconds}
	res.Runs = []report.Run{run}
	peerRate, peerCPU := n/p.Seconds, p.CPUSeconds/n*1e6
	if _, ok := sc.kinds[S3Sink]; !ok {
		res.Figures = []report.Figure{
			report.Compare("peer drain rate", "events/s", peerRate, 0, "", nil),
			report.Compare("peer CPU per 1M events", "CPU-s", peerCPU, 0, "", nil),
			report.Compare("peer peak RSS", "MiB", mib(p.PeakRSS), 0, "", nil),
		}
		return res
	}
	s3, s3s := best(done, S3Sink)
	cpu, rss := worst(done, S3Sink)
	head := report.Compare(fmt.Sprintf("S3 sink drain rate (best of %d)", s3s), "events/s", n/s3.Elapsed.Seconds(), peerRate, "peer", nil)
	head.Headline = true
	res.Figures = []report.Figure{head,
		report.Compare(fmt.Sprintf("S3 sink CPU per 1M events (most of %d)", s3s), "CPU-s", perM(cpu, n), peerCPU, "peer", nil),
		report.Compare(fmt.Sprintf("S3 sink peak RSS (most of %d)", s3s), "MiB", mib(rss), mib(p.PeakRSS), "peer", nil),
	}
	res.Differences = []string{
		fmt.Sprintf("the peer (%s) drains the same %s backlog the S3 sink drained, into the same MinIO, under a prefix of its own, once, after the sink's drains; it measures itself (bench/peer/drain.sh): its seconds, CPU and peak RSS are what the runner reports", p.Version, sc.enc),
		"ratios are ours/peer: above 1 for the rate, below 1 for CPU and memory, favour Auditstream",
		fmt.Sprintf("the peer wrote %d objects; the S3 sink writes one per %d events per partition, with a manifest each", p.Objects, sc.s3Batch()),
		fmt.Sprintf("both are timed from process start: %.1f s of the peer's %.1f s went to Kafka Connect's start, before its connector ran", p.StartupSeconds, p.Seconds),
	}
	return res
}

// runPeer runs the peer's runner with the benchmark's environment, its
// stderr into log, and reads its line.
func runPeer(ctx context.Context, script string, args []string, log string, want int64) (peerRun, error) {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout(want))
	defer cancel()
	logf, err := os.Create(log)
	if err != nil {
		return peerRun{}, fmt.Errorf("peer log: %w", err)
	}
	defer logf.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Stdout, cmd.Stderr = &stdout, logf
	// The runner starts Kafka Connect: on a timeout, its whole process
	// group goes, not the script alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process of the group that ignores SIGTERM is killed 20 s later.
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		time.AfterFunc(20*time.Second, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return syscall.Kill(-pgid, syscall.SIGTERM)
	}
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return peerRun{}, fmt.Errorf("no result within %v: %w", peerTimeout(want), err)
		}
		return peerRun{}, err
	}
	return parsePeer(stdout.Bytes(), want)
}
