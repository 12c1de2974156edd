package drain

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/procstat"
)

// measurement is what one drain of the backlog took.
type measurement struct {
	elapsed   time.Duration // from the child's start until its group committed the end offsets
	stat      procstat.Stat // the child's, read the moment it had drained
	brokerCPU time.Duration // the broker's CPU time over the same span (0: unknown)
	metrics   map[string]float64
	stdout    []byte // after it stopped
	// progress is when the committed offsets moved, and to what total:
	// the router commits every interval, the passthrough once at the end.
	progress []point
}

// point is the group's committed total at a time since the child started.
type point struct {
	at        time.Duration
	committed int64
}

// steadyRate is the committed events per second between the first and the
// last commit seen, which leaves out start-up and the wait for the last
// commit; 0 with fewer than two commits.
func (m measurement) steadyRate() float64 {
	if len(m.progress) < 2 {
		return 0
	}
	first, last := m.progress[0], m.progress[len(m.progress)-1]
	return float64(last.committed-first.committed) / (last.at - first.at).Seconds()
}

// drainTarget is what a child must consume: a topic's partitions up to end,
// committed by group.
type drainTarget struct {
	topic string
	group string
	end   map[int32]int64
}

// watcher runs children and times how long they take to drain a topic.
type watcher struct {
	cluster   *cluster.Cluster
	procs     *procstat.Reader
	brokerPID int
	poll      time.Duration
	timeout   time.Duration
}

// spec is a child to run.
type spec struct {
	argv []string
	env  []string // added to this process's environment
	log  string   // where its stderr goes
	// scrape, when set, reads the child's metrics once it has drained,
	// while it still runs.
	scrape func(log string) (map[string]float64, error)
}

// run starts a child, waits until it has drained t (its committed offsets,
// polled every w.poll, reach the end offsets), reads its resource use, lets
// scrape look at it while it is still up, then stops it with SIGTERM.
func (w *watcher) run(ctx context.Context, c spec, t drainTarget) (measurement, error) {
	var m measurement
	argv, logPath := c.argv, c.log
	logf, err := os.Create(logPath)
	if err != nil {
		return m, fmt.Errorf("child log: %w", err)
	}
	defer logf.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, logf
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}

	brokerBefore := w.brokerCPU()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("start %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", argv[0])
		}
	}

	tick := time.NewTicker(w.poll)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			_ = stop()
			return m, ctx.Err()
		case err := <-exited:
			return m, fmt.Errorf("%s exited before draining %s (%v); its log: %s\n%s", argv[0], t.topic, err, logPath, tail(logPath))
		case <-tick.C:
		}
		if time.Since(start) > w.timeout {
			_ = stop()
			return m, fmt.Errorf("%s did not drain %s within %v (last offset check: %v); its log: %s", argv[0], t.topic, w.timeout, lastErr, logPath)
		}
		offsets, err := w.cluster.Committed(ctx, t.group, t.topic)
		if err != nil {
			lastErr = err // the group may not exist yet: try again
			continue
		}
		if n := cluster.Sum(offsets); n > 0 && (len(m.progress) == 0 || n > m.progress[len(m.progress)-1].committed) {
			m.progress = append(m.progress, point{at: time.Since(start), committed: n})
		}
		if cluster.Reached(offsets, t.end) {
			break
		}
	}
	m.elapsed = time.Since(start)
	m.stat, err = w.procs.Read(cmd.Process.Pid)
	if err != nil {
		_ = stop()
		return m, err
	}
	if w.brokerPID > 0 {
		m.brokerCPU = w.brokerCPU() - brokerBefore
	}
	if c.scrape != nil {
		if m.metrics, err = c.scrape(logPath); err != nil {
			_ = stop()
			return m, err
		}
	}
	if err := stop(); err != nil {
		return m, fmt.Errorf("stop %s: %w; its log: %s\n%s", argv[0], err, logPath, tail(logPath))
	}
	m.stdout = stdout.Bytes()
	return m, nil
}

// brokerCPU is the broker's CPU time so far, or 0 when unknown.
func (w *watcher) brokerCPU() time.Duration {
	if w.brokerPID <= 0 {
		return 0
	}
	d, err := w.procs.CPU(w.brokerPID)
	if err != nil {
		return 0
	}
	return d
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	const keep = 3000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}
