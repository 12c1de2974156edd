// Package drain measures a consumer that runs as a child process and drains
// a backlog: how long until its consumer group has committed the backlog's
// end offsets, and its CPU time and peak memory (from /proc) at that moment.
// The router (package route), the sinks (package sink) and their raw
// franz-go baselines are all measured this way.
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

// Measurement is what one drain of the backlog took.
type Measurement struct {
	Elapsed time.Duration // from the child's start until its group committed the end offsets
	Stat    procstat.Stat // the child's, read the moment it had drained
	// Others is the CPU time of the Watcher's other processes (the broker,
	// MinIO, ...) over the same span, by name; a process whose time could
	// not be read is left out.
	Others  map[string]time.Duration
	Metrics map[string]float64 // what the Child's Scrape returned
	Stdout  []byte             // after it stopped
	// Progress is when the committed offsets moved, and to what total.
	Progress []Point
}

// Point is the group's committed total at a time since the child started.
type Point struct {
	At        time.Duration
	Committed int64
}

// SteadyRate is the committed events per second between the first and the
// last commit seen, which leaves out start-up and the wait for the first
// commit; 0 with fewer than two commits.
func (m Measurement) SteadyRate() float64 {
	if len(m.Progress) < 2 {
		return 0
	}
	first, last := m.Progress[0], m.Progress[len(m.Progress)-1]
	return float64(last.Committed-first.Committed) / (last.At - first.At).Seconds()
}

// Target is what a child must consume: a topic's partitions up to End,
// committed by Group.
type Target struct {
	Topic string
	Group string
	End   map[int32]int64
}

// Child is a process to run.
type Child struct {
	Argv []string
	Env  []string // added to this process's environment
	Log  string   // where its stderr goes
	// Scrape, when set, reads the child's metrics once it has drained,
	// while it still runs.
	Scrape func(log string) (map[string]float64, error)
}

// Watcher runs children and times how long they take to drain a topic.
type Watcher struct {
	cluster *cluster.Cluster
	procs   *procstat.Reader
	others  map[string]int
	poll    time.Duration
	timeout time.Duration
}

// NewWatcher returns a Watcher for backlogs of events records. It polls the
// committed offsets every 50 ms and gives up after two minutes plus a second
// per 2000 events. others are processes whose CPU time each drain also
// reports, by name (the broker, MinIO); a pid of 0 or less is skipped.
func NewWatcher(c *cluster.Cluster, procs *procstat.Reader, events int, others map[string]int) *Watcher {
	return &Watcher{cluster: c, procs: procs, others: others, poll: 50 * time.Millisecond, timeout: 2*time.Minute + time.Duration(events/2000)*time.Second}
}

// Proc is a running child.
type Proc struct {
	cmd    *exec.Cmd
	name   string
	log    string
	logf   *os.File
	stdout bytes.Buffer
	exited chan error
}

// Start starts a child, its stderr into c.Log.
func Start(c Child) (*Proc, error) {
	logf, err := os.Create(c.Log)
	if err != nil {
		return nil, fmt.Errorf("child log: %w", err)
	}
	p := &Proc{name: c.Argv[0], log: c.Log, logf: logf, exited: make(chan error, 1)}
	p.cmd = exec.Command(c.Argv[0], c.Argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, logf
	if len(c.Env) > 0 {
		p.cmd.Env = append(os.Environ(), c.Env...)
	}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		err := p.cmd.Wait()
		logf.Close()
		p.exited <- err
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited receives the child's exit once, if it ends before Stop.
func (p *Proc) Exited() <-chan error { return p.exited }

// Stop sends SIGTERM and waits for the child to exit, killing it after 30
// s. Its stdout is complete once Stop returns.
func (p *Proc) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

// Stdout is what the child printed; complete once it has stopped.
func (p *Proc) Stdout() []byte { return p.stdout.Bytes() }

// Failed describes a child that went wrong, with the tail of its log.
func (p *Proc) Failed(what string, err error) error {
	return fmt.Errorf("%s %s: %v; its log: %s\n%s", p.name, what, err, p.log, Tail(p.log))
}

// Run starts a child, waits until it has drained t (its committed offsets,
// polled every w.poll, reach the end offsets), reads its resource use, lets
// Scrape look at it while it is still up, then stops it with SIGTERM.
func (w *Watcher) Run(ctx context.Context, c Child, t Target) (Measurement, error) {
	var m Measurement
	othersBefore := w.othersCPU()
	start := time.Now()
	p, err := Start(c)
	if err != nil {
		return m, err
	}
	tick := time.NewTicker(w.poll)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			_ = p.Stop()
			return m, ctx.Err()
		case err := <-p.Exited():
			return m, p.Failed("exited before draining "+t.Topic, err)
		case <-tick.C:
		}
		if time.Since(start) > w.timeout {
			_ = p.Stop()
			return m, fmt.Errorf("%s did not drain %s within %v (last offset check: %v); its log: %s", c.Argv[0], t.Topic, w.timeout, lastErr, c.Log)
		}
		offsets, err := w.cluster.Committed(ctx, t.Group, t.Topic)
		if err != nil {
			lastErr = err // the group may not exist yet: try again
			continue
		}
		if n := cluster.Sum(offsets); n > 0 && (len(m.Progress) == 0 || n > m.Progress[len(m.Progress)-1].Committed) {
			m.Progress = append(m.Progress, Point{At: time.Since(start), Committed: n})
		}
		if cluster.Reached(offsets, t.End) {
			break
		}
	}
	m.Elapsed = time.Since(start)
	m.Stat, err = w.procs.Read(p.Pid())
	if err != nil {
		_ = p.Stop()
		return m, err
	}
	after := w.othersCPU()
	m.Others = map[string]time.Duration{}
	for name, d := range after {
		if b, ok := othersBefore[name]; ok {
			m.Others[name] = d - b
		}
	}
	if c.Scrape != nil {
		if m.Metrics, err = c.Scrape(c.Log); err != nil {
			_ = p.Stop()
			return m, err
		}
	}
	if err := p.Stop(); err != nil {
		return m, p.Failed("stop", err)
	}
	m.Stdout = p.Stdout()
	return m, nil
}

// othersCPU is the CPU time so far of each other process it can read.
func (w *Watcher) othersCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range w.others {
		if pid <= 0 {
			continue
		}
		if d, err := w.procs.CPU(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

// Tail returns the last lines of a log file, for error messages.
func Tail(path string) string {
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
