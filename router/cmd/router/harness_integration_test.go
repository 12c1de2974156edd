//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// routerBin is the router binary the tests run, built once by TestMain.
var routerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "router-test")
	if err != nil {
		panic(err)
	}
	routerBin = filepath.Join(dir, "router")
	if err := proctest.Build(".", ".", routerBin); err != nil {
		fmt.Fprintf(os.Stderr, "build router: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPipeline is a pipeline whose topics are unique to one test.
type testPipeline struct {
	path   string
	events string
	prefix string
	dlq    string
	conns  []config.Connector
	// maxEventBytes is the router's event size cap (64KiB unless a test
	// sets it before write).
	maxEventBytes string
}

// newPipeline creates the events topic and writes a pipeline file for the
// connectors (ids and filters only; the router ignores destinations, but
// the config requires one, so a placeholder S3 block is written).
func newPipeline(t *testing.T, conns []config.Connector) *testPipeline {
	t.Helper()
	events := kafkatest.Topic(t, 6)
	tp := &testPipeline{path: filepath.Join(t.TempDir(), "pipeline.yaml"), events: events, prefix: events + ".c.", dlq: events + ".dlq", conns: conns, maxEventBytes: "64KiB"}
	tp.write(t, conns)
	return tp
}

// write (re)writes the pipeline file with these connectors.
func (tp *testPipeline) write(t *testing.T, conns []config.Connector) {
	t.Helper()
	type filterY struct {
		Tenants    map[string][]string `yaml:"tenants,omitempty"`
		Actions    map[string][]string `yaml:"actions,omitempty"`
		Tenantless *bool               `yaml:"tenantless,omitempty"`
	}
	lists := func(p config.Patterns) map[string][]string {
		m := map[string][]string{}
		if len(p.Include) > 0 {
			m["include"] = p.Include
		}
		if len(p.Exclude) > 0 {
			m["exclude"] = p.Exclude
		}
		return m
	}
	var cs []map[string]any
	for _, c := range conns {
		cs = append(cs, map[string]any{
			"id": c.ID, "type": "s3",
			"filter": filterY{Tenants: lists(c.Filter.Tenants), Actions: lists(c.Filter.Actions), Tenantless: c.Filter.Tenantless},
			"s3":     map[string]any{"bucket": "unused", "credentials": map[string]any{"source": "default"}},
		})
	}
	doc := map[string]any{
		"kafka": map[string]any{"brokers": kafkatest.Brokers(t)},
		"topics": map[string]any{
			"events":           map[string]any{"name": tp.events, "partitions": 6},
			"dlq":              map[string]any{"name": tp.dlq, "partitions": 1},
			"connector_prefix": tp.prefix,
			"connector":        map[string]any{"partitions": 3},
			"state":            map[string]any{"name": tp.events + ".state"},
		},
		"router":     map[string]any{"group": tp.events + ".router", "max_event_bytes": tp.maxEventBytes, "listen": "127.0.0.1:0"},
		"connectors": cs,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tp.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// proc is a router process whose stderr the test can wait on.
type proc struct {
	cmd *exec.Cmd
	out proctest.Log
}

func (p *proc) log() string { return p.out.String() }

// waitFor waits until the process has logged s, n times in all.
func (p *proc) waitFor(t *testing.T, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(p.log(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("router did not log %q %d times within %v; log:\n%s", s, n, timeout, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startRouter(t *testing.T, cfg string) *proc {
	t.Helper()
	p := &proc{}
	p.cmd = exec.Command(routerBin, "run", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the router gracefully (SIGTERM) and waits for it.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// kill9 ends the router with SIGKILL, mid-whatever it was doing.
func (p *proc) kill9() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// publish produces events to a topic by the record contract, synchronously.
func publish(t *testing.T, topic string, evs []*auditv1.Event) {
	t.Helper()
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	var recs []*kgo.Record
	for _, ev := range evs {
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// expected returns, per connector id, the ids of the events its filter
// accepts.
func expected(t *testing.T, conns []config.Connector, evs []*auditv1.Event) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, c := range conns {
		rule, err := filter.New(c.Filter)
		if err != nil {
			t.Fatal(err)
		}
		out[c.ID] = map[string]bool{}
		for _, ev := range evs {
			if rule.Match(record.MetaOf(ev)) {
				out[c.ID][ev.GetId()] = true
			}
		}
	}
	return out
}

// checkTopic asserts that a connector topic holds exactly the wanted event
// ids, each once, read committed.
func checkTopic(t *testing.T, topic string, want map[string]bool) {
	t.Helper()
	recs := kafkatest.ReadAll(t, topic, len(want), 120*time.Second)
	got := map[string]int{}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatalf("%s: decode offset %d: %v", topic, r.Offset, err)
		}
		got[ev.GetId()]++
	}
	missing, dup, extra := kafkatest.Tally(want, got)
	if missing+dup+extra > 0 {
		t.Errorf("%s: %d records for %d wanted ids: %d missing, %d duplicated, %d that the filter rejects", topic, len(recs), len(want), missing, dup, extra)
	} else {
		t.Logf("%s: exactly the %d expected events, each once", topic, len(want))
	}
}

const syscallHUP = syscall.SIGHUP

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
