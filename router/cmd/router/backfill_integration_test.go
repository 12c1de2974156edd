//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/router/internal/backfill"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// publishSpread produces events round-robin to partitions [0, parts) of the
// topic, leaving the others idle, with bad records (malformed JSON) among
// them, one after every badEvery events (0: none). It returns how many bad
// records it sent.
func publishSpread(t *testing.T, topic string, evs []*auditv1.Event, parts int, badEvery int) int {
	t.Helper()
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var recs []*kgo.Record
	bad := 0
	for i, ev := range evs {
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		r.Partition = int32(i % parts)
		recs = append(recs, r)
		if badEvery > 0 && i%badEvery == 0 {
			bad++
			recs = append(recs, &kgo.Record{Partition: int32(i % parts), Key: []byte("bad-" + strconv.Itoa(i)), Value: []byte(`{"projectId": "P1", "action": ` + strconv.Itoa(i))})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return bad
}

// runBackfill runs `router backfill` to its end and returns its exit code,
// its JSON summary (when it printed one) and its stderr.
func runBackfill(t *testing.T, args ...string) (int, *backfill.Summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a backfill that never ends fails the test
	defer cancel()
	cmd := exec.CommandContext(ctx, routerBin, append([]string{"backfill", "--json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("backfill %v did not end within 2 minutes; stderr:\n%s", args, stderr.String())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var sum *backfill.Summary
	if stdout.Len() > 0 {
		sum = &backfill.Summary{}
		if err := json.Unmarshal(stdout.Bytes(), sum); err != nil {
			t.Fatalf("backfill summary: %v\n%s", err, stdout.String())
		}
	}
	return code, sum, stderr.String()
}

// TestBackfillAddedConnector: a connector added by SIGHUP while events flow
// is backfilled from the start of the log, with a SIGKILL mid-run and a run
// again. Its topic holds exactly the matching events, history and live,
// each once; the other connectors' topics and the DLQ hold exactly what the
// router sent them; a run after the complete one sends nothing. One
// partition of the events topic never has traffic: its live start is
// recorded all the same, and backfill does not wait for it.
func TestBackfillAddedConnector(t *testing.T) {
	before := []config.Connector{overlapping[0], overlapping[1]}
	after := overlapping // adds "archive"
	tp := newPipeline(t, before)
	const busy = 5 // of the 6 partitions; partition 5 stays idle
	history := generate(11, 60_000)
	live := generate(12, 40_000)
	bad := publishSpread(t, tp.events, history, busy, 2_000)
	r := startRouter(t, tp.path)
	r.waitFor(t, "live starts recorded", 1, 60*time.Second)

	// The connector is in the file but not yet in the router: no live start.
	tp.write(t, after)
	code, _, stderr := runBackfill(t, "--config", tp.path, "--connector", "archive", "--from", "earliest")
	if code != 3 {
		t.Fatalf("backfill before the reload: exit %d, want 3 (no live start); stderr:\n%s", code, stderr)
	}
	t.Logf("before the reload: %s", lastLine(stderr))

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(live); i += 4_000 {
			bad += publishSpread(t, tp.events, live[i:i+4_000], busy, 2_000)
			time.Sleep(300 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second) // some live events before the reload, some after
	_ = r.cmd.Process.Signal(syscallHUP)
	r.waitFor(t, "config reloaded", 1, 30*time.Second)
	waitForLine(t, r, 30*time.Second, "live starts recorded", "archive")

	// A first run, throttled so that it is killed mid-way.
	p := &proc{}
	p.cmd = exec.Command(routerBin, "backfill", "--config", tp.path, "--connector", "archive", "--from", "earliest", "--rate", "15000")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "backfill [", 1, 60*time.Second)
	time.Sleep(1500 * time.Millisecond)
	p.kill9()
	t.Logf("first run killed; its log:\n%s", p.log())

	code, sum, stderr := runBackfill(t, "--config", tp.path, "--connector", "archive", "--from", "earliest")
	if code != 0 || sum == nil || !sum.Complete {
		t.Fatalf("second run: exit %d, summary %+v; stderr:\n%s", code, sum, stderr)
	}
	all := append(append([]*auditv1.Event{}, history...), live...)
	want := expected(t, overlapping, all)
	var whole int64
	for _, ps := range sum.Partitions {
		whole += ps.End - ps.From
	}
	if sum.Left == 0 || sum.Left >= whole || sum.Read != sum.Left {
		t.Errorf("second run: %d offsets left of %d, %d read: want the first run to have committed some but not all, and the second to read the rest", sum.Left, whole, sum.Read)
	}
	t.Logf("second run: %d sent, %d filtered, %d dead letters, %d offsets, %d transactions", sum.Sent, sum.Filtered, sum.DeadLetters, sum.Read, sum.Transactions)
	for _, ps := range sum.Partitions {
		if ps.Partition == busy && (ps.End != 0 || ps.Remaining != 0) {
			t.Errorf("idle partition %d: end %d, remaining %d; want 0 and 0", ps.Partition, ps.End, ps.Remaining)
		}
	}

	<-done
	code, sum, stderr = runBackfill(t, "--config", tp.path, "--connector", "archive", "--from", "earliest")
	if code != 0 || sum == nil || !sum.Complete || sum.Sent != 0 || sum.Read != 0 {
		t.Errorf("run after completion: exit %d, summary %+v; want exit 0, complete, nothing read or sent; stderr:\n%s", code, sum, stderr)
	}

	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	dead := kafkatest.ReadAll(t, tp.dlq, bad, 60*time.Second)
	if len(dead) != bad {
		t.Errorf("DLQ holds %d records, want the %d bad ones, each once (backfill dead-letters nothing)", len(dead), bad)
	}
}

// waitForLine waits until the process has logged a line with every one of
// the strings.
func waitForLine(t *testing.T, p *proc, timeout time.Duration, all ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(p.log(), "\n") {
			n := 0
			for _, s := range all {
				if strings.Contains(line, s) {
					n++
				}
			}
			if n == len(all) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q within %v; log:\n%s", all, timeout, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLine(s string) string {
	b := bytes.TrimRight([]byte(s), "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// TestBackfillTwoReplicas: two router replicas both get the new connector
// by SIGHUP while events flow; then one is killed (SIGKILL) and restarted,
// so partitions whose live start one replica recorded move to the other.
// A live start is never overwritten by a later one (which would make
// backfill send again what was routed live in between): after a backfill,
// the connector's topic holds exactly the matching events, each once.
func TestBackfillTwoReplicas(t *testing.T) {
	before := []config.Connector{overlapping[0], overlapping[1]}
	tp := newPipeline(t, before)
	evs := generate(21, 80_000)
	publish(t, tp.events, evs[:20_000])
	a := startRouter(t, tp.path)
	b := startRouter(t, tp.path)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 20_000; i < 60_000; i += 5_000 {
			publish(t, tp.events, evs[i:i+5_000])
			time.Sleep(400 * time.Millisecond)
		}
	}()
	time.Sleep(2 * time.Second)
	tp.write(t, overlapping)
	_ = a.cmd.Process.Signal(syscallHUP)
	time.Sleep(300 * time.Millisecond)
	_ = b.cmd.Process.Signal(syscallHUP)
	a.waitFor(t, "config reloaded", 1, 30*time.Second)
	b.waitFor(t, "config reloaded", 1, 30*time.Second)
	waitForLine(t, a, 30*time.Second, "live starts recorded", "archive")
	waitForLine(t, b, 30*time.Second, "live starts recorded", "archive")
	a.kill9()
	t.Log("SIGKILL sent to a router replica after the reload; restarting it")
	a = startRouter(t, tp.path)
	// The restarted replica takes partitions whose live starts the killed
	// one recorded, then routes more events.
	a.waitFor(t, "partitions assigned", 1, 60*time.Second)
	<-done
	publish(t, tp.events, evs[60_000:])
	want := expected(t, overlapping, evs)
	checkTopic(t, tp.prefix+"logins", want["logins"]) // everything routed

	code, sum, stderr := runBackfill(t, "--config", tp.path, "--connector", "archive", "--from", "earliest")
	if code != 0 || sum == nil || !sum.Complete || sum.Sent == 0 {
		t.Fatalf("backfill: exit %d, summary %+v; want exit 0, complete, some sent; stderr:\n%s", code, sum, stderr)
	}
	t.Logf("backfill: %d sent, %d filtered, %d offsets", sum.Sent, sum.Filtered, sum.Read)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	if t.Failed() {
		t.Logf("replica a's log:\n%s\nreplica b's log:\n%s", a.log(), b.log())
	}
}

// TestBackfillFromTo: --from and --to pick events by time. A run from T
// sends only the events after T; a run from the start to T the ones
// before; a run over everything afterwards sends nothing, because both
// ranges are done. The connector's topic holds every matching event once,
// and a connector added at the same time receives nothing. A connector
// that was live from the router's first start has nothing to backfill.
func TestBackfillFromTo(t *testing.T) {
	before := []config.Connector{overlapping[0]}
	tp := newPipeline(t, before)
	evs := generate(31, 20_000)
	early, late := evs[:10_000], evs[10_000:]
	publish(t, tp.events, early)
	time.Sleep(1100 * time.Millisecond)
	mid := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	time.Sleep(100 * time.Millisecond)
	publish(t, tp.events, late)
	want, wantEarly, wantLate := expected(t, overlapping, evs), expected(t, overlapping, early), expected(t, overlapping, late)

	r := startRouter(t, tp.path)
	checkTopic(t, tp.prefix+"logins", want["logins"])
	code, sum, stderr := runBackfill(t, "--config", tp.path, "--connector", "logins", "--from", "earliest")
	if code != 0 || sum == nil || !sum.Complete || sum.Left != 0 || sum.Sent != 0 {
		t.Fatalf("backfill of a connector live from the start: exit %d, %+v; want nothing to do; stderr:\n%s", code, sum, stderr)
	}

	tp.write(t, overlapping)
	_ = r.cmd.Process.Signal(syscallHUP)
	waitForLine(t, r, 30*time.Second, "live starts recorded", "archive")

	// A run interrupted (SIGINT) ends its transaction, prints what it did
	// and exits 4.
	p := &proc{}
	var stdout bytes.Buffer
	p.cmd = exec.Command(routerBin, "backfill", "--json", "--config", tp.path, "--connector", "archive", "--from", "earliest", "--to", mid, "--rate", "2000")
	p.cmd.Stdout, p.cmd.Stderr = &stdout, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "backfill [", 1, 60*time.Second)
	_ = p.cmd.Process.Signal(os.Interrupt)
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Fatalf("interrupted run: %v, want exit 4; log:\n%s", err, p.log())
	}
	var interrupted backfill.Summary
	if err := json.Unmarshal(stdout.Bytes(), &interrupted); err != nil || interrupted.Complete || interrupted.Sent == 0 {
		t.Fatalf("interrupted run: summary %+v (%v), want some sent, not complete:\n%s", interrupted, err, stdout.String())
	}
	t.Logf("interrupted run: %d sent", interrupted.Sent)

	runs := []struct {
		args []string
		sent int
	}{
		{[]string{"--from", mid}, len(wantLate["archive"])},
		{[]string{"--from", "earliest", "--to", mid}, len(wantEarly["archive"]) - int(interrupted.Sent)},
		{[]string{"--from", "earliest"}, 0},
	}
	for _, run := range runs {
		code, sum, stderr := runBackfill(t, append([]string{"--config", tp.path, "--connector", "archive"}, run.args...)...)
		if code != 0 || sum == nil || !sum.Complete || sum.Sent != int64(run.sent) {
			t.Fatalf("backfill %v: exit %d, %+v; want complete, %d sent; stderr:\n%s", run.args, code, sum, run.sent, stderr)
		}
		t.Logf("backfill %v: %d sent, %d offsets read", run.args, sum.Sent, sum.Read)
	}
	checkTopic(t, tp.prefix+"archive", want["archive"])
	checkTopic(t, tp.prefix+"big-tenants", map[string]bool{})
}
