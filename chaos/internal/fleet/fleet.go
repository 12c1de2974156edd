// Package fleet runs the pipeline's processes (router and sink replicas)
// and lets a chaos run kill, stop, restart and add them. A process that
// exits without being told to is a crash: it is counted and started again.
package fleet

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is how to start one replica.
type Spec struct {
	Name string // router/0, sink/<connector>/1
	Bin  string
	Args []string
	Env  []string // added to the environment
}

// Crash is a replica that exited on its own.
type Crash struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at"` // since the fleet started
	Err  string        `json:"err"`
}

type proc struct {
	spec     Spec
	cmd      *exec.Cmd
	done     chan struct{}
	intended bool // the exit was asked for
}

// Fleet holds the running replicas.
type Fleet struct {
	dir   string
	log   *slog.Logger
	start time.Time

	mu      sync.Mutex
	procs   map[string]*proc
	crashes []Crash
	closed  bool
}

// New returns an empty fleet whose replicas log into dir.
func New(dir string, log *slog.Logger) *Fleet {
	return &Fleet{dir: dir, log: log, start: time.Now(), procs: map[string]*proc{}}
}

// Start starts a replica.
func (f *Fleet) Start(s Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.startLocked(s)
}

func (f *Fleet) startLocked(s Spec) error {
	if _, ok := f.procs[s.Name]; ok {
		return fmt.Errorf("start %s: already running", s.Name)
	}
	logPath := filepath.Join(f.dir, strings.ReplaceAll(s.Name, "/", "-")+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	fmt.Fprintf(lf, "==== chaos: start at t+%s\n", time.Since(f.start).Round(time.Millisecond))
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &proc{spec: s, cmd: cmd, done: make(chan struct{})}
	f.procs[s.Name] = p
	go func() {
		err := cmd.Wait()
		lf.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		close(p.done)
		if p.intended || f.closed {
			return
		}
		// A crash: count it, and start the replica again, as an
		// orchestrator would.
		msg := fmt.Sprint(err)
		f.crashes = append(f.crashes, Crash{Name: s.Name, At: time.Since(f.start), Err: msg})
		f.log.Warn("replica exited on its own; restarting it", "replica", s.Name, "err", msg)
		delete(f.procs, s.Name)
		time.AfterFunc(time.Second, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if _, ok := f.procs[s.Name]; ok || f.closed {
				return
			}
			if err := f.startLocked(s); err != nil {
				f.log.Error("restart after crash", "replica", s.Name, "err", err)
			}
		})
	}()
	return nil
}

// Kill sends SIGKILL to a replica, waits for it to exit, and returns its spec
// for a later Start.
func (f *Fleet) Kill(name string) (Spec, error) { return f.end(name, syscall.SIGKILL, 0) }

// Stop sends SIGTERM (a graceful stop: flush, commit, leave) and waits up to
// grace, then kills.
func (f *Fleet) Stop(name string, grace time.Duration) (Spec, error) {
	return f.end(name, syscall.SIGTERM, grace)
}

func (f *Fleet) end(name string, sig syscall.Signal, grace time.Duration) (Spec, error) {
	f.mu.Lock()
	p, ok := f.procs[name]
	if ok {
		p.intended = true
		delete(f.procs, name)
	}
	f.mu.Unlock()
	if !ok {
		return Spec{}, fmt.Errorf("%s is not running", name)
	}
	_ = p.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-p.done:
			return p.spec, nil
		case <-time.After(grace):
			f.log.Warn("replica did not stop in time; killing it", "replica", name, "grace", grace)
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	<-p.done
	return p.spec, nil
}

// Running returns the names of the running replicas whose name starts with
// prefix, sorted.
func (f *Fleet) Running(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.procs {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Crashes returns the replicas that exited on their own.
func (f *Fleet) Crashes() []Crash {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.crashes)
}

// Close stops every replica gracefully, all at once.
func (f *Fleet) Close(grace time.Duration) {
	f.mu.Lock()
	f.closed = true
	names := make([]string, 0, len(f.procs))
	for n := range f.procs {
		names = append(names, n)
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() { _, _ = f.Stop(n, grace) })
	}
	wg.Wait()
}
