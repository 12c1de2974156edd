// Package fault injects a plan's faults into a running pipeline and measures
// how long the pipeline takes to recover from each.
package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditstream/auditstream/chaos/internal/fleet"
	"github.com/auditstream/auditstream/chaos/internal/plan"
	"github.com/auditstream/auditstream/chaos/internal/probe"
	"github.com/auditstream/auditstream/chaos/internal/report"
	"github.com/auditstream/auditstream/ddintake"
)

// Injector holds what the faults act on.
type Injector struct {
	Fleet  *fleet.Fleet
	Probe  *probe.Probe
	Intake *ddintake.Server
	// Stack is the directory of the stack scripts (kafka.sh, minio.sh);
	// StackDir the STACK_DIR they run with.
	Stack, StackDir string
	Auditctl        string
	Config          string
	// Gate is held for reading while a chunk is published, and for writing
	// while the broker restarts: see the package main for why.
	Gate *sync.RWMutex
	// Router is the router's group; Groups the sink groups by connector.
	Router   probe.Group
	Groups   map[string]probe.Group
	Types    map[string]string // connector id -> s3 | datadog
	SinkSpec func(connector string, replica int) fleet.Spec
	Log      *slog.Logger
	Dir      string // where command outputs are written

	// procs serializes the faults that start and stop replicas, so that a
	// kill never meets a replay half-way.
	procs sync.Mutex
	next  map[string]int // the next replica number of each connector
}

// RecoveryLimit bounds the wait for a recovery.
const RecoveryLimit = 90 * time.Second

// Inject runs one fault to its end and measures the recovery.
func (in *Injector) Inject(ctx context.Context, s plan.Step) report.Fault {
	f := report.Fault{Step: s}
	start := time.Now()
	groups, note, err := in.inject(ctx, s)
	f.Took = time.Since(start)
	f.Note = note
	if err != nil {
		f.Err = err.Error()
		in.Log.Error("fault", "kind", s.Kind, "target", s.Target, "err", err)
	}
	f.Recovery, f.Recovered = in.Probe.Recovery(ctx, groups, RecoveryLimit)
	in.Log.Info("fault done", "kind", s.Kind, "target", s.Target, "took", f.Took.Round(time.Millisecond),
		"recovery", f.Recovery.Round(time.Millisecond), "recovered", f.Recovered)
	return f
}

func (in *Injector) inject(ctx context.Context, s plan.Step) ([]probe.Group, string, error) {
	in.Log.Info("fault", "kind", s.Kind, "target", s.Target, "down", s.Down)
	switch s.Kind {
	case plan.Kill:
		in.procs.Lock()
		defer in.procs.Unlock()
		name := in.pick(s.Target)
		if name == "" {
			return nil, "", fmt.Errorf("no replica like %s is running", s.Target)
		}
		spec, err := in.Fleet.Kill(name)
		if err != nil {
			return nil, "", err
		}
		sleep(ctx, s.Down)
		if err := in.Fleet.Start(spec); err != nil {
			return nil, "", err
		}
		return []probe.Group{in.groupOf(name)}, "SIGKILL " + name, nil
	case plan.MinIO:
		if err := in.script(ctx, "minio.sh", "stop"); err != nil {
			return nil, "", err
		}
		sleep(ctx, s.Down)
		if err := in.script(ctx, "minio.sh", "start"); err != nil {
			return nil, "", err
		}
		return in.groupsOf("s3"), "", nil
	case plan.Intake429, plan.Intake500:
		status := 429
		if s.Kind == plan.Intake500 {
			status = 500
		}
		id, err := in.Intake.Inject(ddintake.Fault{Kind: ddintake.KindStatus, Status: status, RetryAfter: true, For: s.Down})
		if err != nil {
			return nil, "", err
		}
		sleep(ctx, s.Down)
		in.Intake.RemoveFault(id)
		return in.groupsOf("datadog"), "", nil
	case plan.Broker:
		// Publishing waits while the broker restarts: the input's clients
		// are not under test, and a client's retry that duplicated an
		// event would be blamed on the pipeline.
		in.Gate.Lock()
		err := in.script(ctx, "kafka.sh", "restart")
		in.Gate.Unlock()
		if err != nil {
			return nil, "", err
		}
		return append(in.groupsOf(""), in.Router), "", nil
	case plan.ScaleOut:
		in.procs.Lock()
		defer in.procs.Unlock()
		spec := in.SinkSpec(s.Target, in.nextReplica(s.Target))
		if err := in.Fleet.Start(spec); err != nil {
			return nil, "", err
		}
		return []probe.Group{in.Groups[s.Target]}, "started " + spec.Name, nil
	case plan.ScaleIn:
		in.procs.Lock()
		defer in.procs.Unlock()
		running := in.Fleet.Running("sink/" + s.Target + "/")
		if len(running) < 2 {
			return nil, "", fmt.Errorf("scale-in: %d replicas of %s running", len(running), s.Target)
		}
		name := running[len(running)-1]
		if _, err := in.Fleet.Stop(name, 30*time.Second); err != nil {
			return nil, "", err
		}
		return []probe.Group{in.Groups[s.Target]}, "stopped " + name, nil
	case plan.Replay:
		in.procs.Lock()
		defer in.procs.Unlock()
		return in.replay(ctx, s.Target)
	}
	return nil, "", fmt.Errorf("unknown fault %q", s.Kind)
}

// replay stops the connector's sinks (replay wants its group empty), rewinds
// the group to the earliest offset with auditctl, and starts the sinks again.
func (in *Injector) replay(ctx context.Context, connector string) ([]probe.Group, string, error) {
	var specs []fleet.Spec
	for _, name := range in.Fleet.Running("sink/" + connector + "/") {
		spec, err := in.Fleet.Stop(name, 30*time.Second)
		if err != nil {
			return nil, "", err
		}
		specs = append(specs, spec)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out []byte
	var err error
	var refused string
	args := []string{"replay", "--config", in.Config, "--connector", connector, "--from", "earliest", "--yes", "--wait"}
	for attempt := 0; ; attempt++ {
		out, err = in.run(rctx, "replay-"+connector, in.Auditctl, args...)
		// auditctl refuses an S3 replay whose range has offsets it finds
		// in no delivery before archived ones. The records of a
		// transaction that a router rebalance aborted are such offsets
		// (see TestReplayCountsAbortedRecordsAsMissing): say so, and
		// replay with --allow-overlap, so that the run still replays and
		// the checks hold the archive to exactly once.
		if err != nil && refused == "" && bytes.Contains(out, []byte("refused: archived deliveries follow")) {
			refused = "refused without --allow-overlap (aborted records counted as missing); replayed with it"
			args = append(args, "--allow-overlap")
			continue
		}
		// Exit 3 is "Kafka unreachable": the broker may be restarting, as an
		// operator would, try again.
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || attempt == 10 {
			break
		}
		sleep(rctx, 5*time.Second)
	}
	for _, spec := range specs {
		if serr := in.Fleet.Start(spec); serr != nil && err == nil {
			err = serr
		}
	}
	note := fmt.Sprintf("%d replicas stopped and started", len(specs))
	if refused != "" {
		note += "; " + refused
	}
	if l := replayedLine(out); l != "" {
		note += "; " + l
	}
	return []probe.Group{in.Groups[connector]}, note, err
}

// replayedLine finds the line of auditctl's plan that says how many records
// go again.
func replayedLine(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "delivered again") || strings.Contains(l, "nothing to") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

func (in *Injector) nextReplica(connector string) int {
	if in.next == nil {
		in.next = map[string]int{}
	}
	n, ok := in.next[connector]
	if !ok {
		// Replicas 0 and 1 started with the pipeline; find the highest.
		for _, name := range in.Fleet.Running("sink/" + connector + "/") {
			if i, err := strconv.Atoi(name[strings.LastIndexByte(name, '/')+1:]); err == nil && i >= n {
				n = i + 1
			}
		}
	}
	in.next[connector] = n + 1
	return n
}

// pick returns target if it runs, or another running replica of the same
// kind (router, or the same connector's sinks).
func (in *Injector) pick(target string) string {
	prefix := target[:strings.LastIndexByte(target, '/')+1]
	running := in.Fleet.Running(prefix)
	for _, n := range running {
		if n == target {
			return n
		}
	}
	if len(running) > 0 {
		return running[0]
	}
	return ""
}

func (in *Injector) groupOf(replica string) probe.Group {
	if strings.HasPrefix(replica, "router/") {
		return in.Router
	}
	parts := strings.Split(replica, "/")
	return in.Groups[parts[1]]
}

// groupsOf returns the sink groups of a connector type ("" for all).
func (in *Injector) groupsOf(typ string) []probe.Group {
	var out []probe.Group
	for id, g := range in.Groups {
		if typ == "" || in.Types[id] == typ {
			out = append(out, g)
		}
	}
	return out
}

func (in *Injector) script(ctx context.Context, script string, args ...string) error {
	_, err := in.run(ctx, strings.TrimSuffix(script, ".sh")+"-"+args[0], filepath.Join(in.Stack, script), args...)
	return err
}

// run runs a command with the chaos STACK_DIR, keeps its output in the run
// directory, and returns it.
func (in *Injector) run(ctx context.Context, what, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "STACK_DIR="+in.StackDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	path := filepath.Join(in.Dir, fmt.Sprintf("%s-%s.out", what, time.Now().Format("150405.000")))
	_ = os.WriteFile(path, out.Bytes(), 0o644)
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w (output in %s)", filepath.Base(bin), strings.Join(args, " "), err, path)
	}
	return out.Bytes(), nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
