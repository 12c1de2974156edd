//go:build integration

package main

// Least privilege, proven on a broker that enforces ACLs (KRaft's
// StandardAuthorizer, allow.everyone.if.no.acl.found=false): each component
// logs in as a SCRAM user of its own that holds exactly the ACLs README.md
// documents ("Least privilege"), and does its work: router setup, the
// router (without Create: setup made its topics), router backfill, a
// Datadog sink, an S3 sink (MinIO), the producer CLI, and auditctl status,
// dlq list, replay and dlq redrive. What a component must not do is refused. The
// grants below are the README's tables, with the test's topic names: keep
// them in step.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/pipeline"
	"github.com/auditstream/auditstream/stack/proctest"
	"github.com/auditstream/auditstream/stack/securekafka"
)

// aclDDKey is the Datadog key of the ACL test's intake (not a real key).
const aclDDKey = "acl-test-dd-key-0123456789abcdef"

// grant is one line of a component's ACL table: operations allowed on a
// resource, named literally or by prefix.
type grant struct {
	res      kmsg.ACLResourceType
	name     string
	prefixed bool
	ops      []kadm.ACLOperation
}

// aclNames are the pipeline's names in this test.
type aclNames struct {
	events, dlq, state, heads, prefix, routerGroup, connector, s3connector string
}

func (n aclNames) connectorTopic() string { return n.prefix + n.connector }
func (n aclNames) sinkGroup() string      { return "auditstream-sink-" + n.connector }
func (n aclNames) s3Topic() string        { return n.prefix + n.s3connector }
func (n aclNames) s3Group() string        { return "auditstream-sink-" + n.s3connector }

const (
	topicRes = kmsg.ACLResourceTypeTopic
	groupRes = kmsg.ACLResourceTypeGroup
	txnRes   = kmsg.ACLResourceTypeTransactionalId
)

const (
	opRead     = kadm.OpRead
	opWrite    = kadm.OpWrite
	opCreate   = kadm.OpCreate
	opDescribe = kadm.OpDescribe
)

// componentGrants are README.md's ACL tables.
func componentGrants(n aclNames) map[string][]grant {
	ops := func(o ...kadm.ACLOperation) []kadm.ACLOperation { return o }
	return map[string][]grant{
		// router setup: creates the pipeline's topics, the router's state
		// topic and the S3 sinks' heads topic among them. It lists them
		// first (topics.Ensure), and a metadata answer that refuses any
		// one of them fails the whole list (kadm): hence Describe.
		"setup": {
			{topicRes, n.events, false, ops(opCreate, opDescribe)},
			{topicRes, n.dlq, false, ops(opCreate, opDescribe)},
			{topicRes, n.state, false, ops(opCreate, opDescribe)},
			{topicRes, n.heads, false, ops(opCreate, opDescribe)},
			{topicRes, n.prefix, true, ops(opCreate, opDescribe)},
		},
		// router run: reads the events in its group, writes the connector
		// topics, the DLQ and its live starts (state topic) in
		// transactions under ids prefixed with its group, and reads the
		// state topic at start. topics.Ensure lists every pipeline topic
		// first (Describe: the heads topic is in the list) and creates
		// only the missing ones, so no Create once setup ran.
		"router": {
			{topicRes, n.events, false, ops(opRead)},
			{topicRes, n.dlq, false, ops(opWrite)},
			{topicRes, n.prefix, true, ops(opWrite)},
			{topicRes, n.state, false, ops(opRead, opWrite)},
			{topicRes, n.heads, false, ops(opDescribe)},
			{groupRes, n.routerGroup, false, ops(opRead)},
			{txnRes, n.routerGroup + "-", true, ops(opWrite)},
		},
		// router backfill --connector ID: reads the events (no group) and
		// the state topic, writes the connector's topic and its progress
		// (state topic) in transactions under one fixed id. It lists the
		// pipeline's topics as the router does (Describe on the rest).
		"backfill": {
			{topicRes, n.events, false, ops(opRead)},
			{topicRes, n.state, false, ops(opRead, opWrite)},
			{topicRes, n.connectorTopic(), false, ops(opWrite)},
			{topicRes, n.prefix, true, ops(opDescribe)},
			{topicRes, n.dlq, false, ops(opDescribe)},
			{topicRes, n.heads, false, ops(opDescribe)},
			{txnRes, n.routerGroup + "-backfill-" + n.connector, false, ops(opWrite)},
		},
		// A sink of one connector: its topic and group, and the DLQ.
		"sink": {
			{topicRes, n.connectorTopic(), false, ops(opRead)},
			{groupRes, n.sinkGroup(), false, ops(opRead)},
			{topicRes, n.dlq, false, ops(opWrite)},
		},
		// An S3 sink: a sink's, plus the topic ID of its topic (Describe,
		// implied by Read) and the chain heads (the heads topic, which
		// router setup made).
		"s3sink": {
			{topicRes, n.s3Topic(), false, ops(opRead)},
			{groupRes, n.s3Group(), false, ops(opRead)},
			{topicRes, n.dlq, false, ops(opWrite)},
			{topicRes, n.heads, false, ops(opRead, opWrite)},
		},
		// The producer SDK and CLI.
		"producer": {
			{topicRes, n.events, false, ops(opWrite)},
		},
		// auditctl status: lag (counting records) of every group, and the
		// dead-letter counts.
		"auditctl-status": {
			{topicRes, n.events, false, ops(opRead)},
			{topicRes, n.dlq, false, ops(opRead)},
			{topicRes, n.prefix, true, ops(opRead)},
			{groupRes, n.routerGroup, false, ops(opDescribe)},
			{groupRes, "auditstream-sink-", true, ops(opDescribe)},
		},
		// auditctl replay --connector: one connector's topic and group.
		"auditctl-replay": {
			{topicRes, n.connectorTopic(), false, ops(opRead)},
			{groupRes, n.sinkGroup(), false, ops(opRead)},
		},
		// auditctl dlq list and show.
		"auditctl-dlq": {
			{topicRes, n.dlq, false, ops(opRead)},
		},
		// auditctl dlq redrive: back to the events (router letters) and to
		// the connector topics (sink letters), with markers, in one
		// transaction.
		"auditctl-redrive": {
			{topicRes, n.dlq, false, ops(opRead, opWrite)},
			{topicRes, n.events, false, ops(opWrite)},
			{topicRes, n.prefix, true, ops(opWrite)},
			{txnRes, "auditstream-auditctl-redrive-" + n.dlq, false, ops(opWrite)},
		},
	}
}

// allow gives user its grants.
func allow(t *testing.T, b *securekafka.Broker, user string, gs []grant) {
	t.Helper()
	for _, g := range gs {
		a := kadm.NewACLs().Allow("User:" + user).Operations(g.ops...)
		switch g.res {
		case topicRes:
			a.Topics(g.name)
		case groupRes:
			a.Groups(g.name)
		case txnRes:
			a.TransactionalIDs(g.name)
		default:
			t.Fatalf("no builder for resource type %v", g.res)
		}
		if g.prefixed {
			a.ResourcePatternType(kadm.ACLPatternPrefixed)
		}
		b.Allow(t, a)
	}
}

// aclPipeline writes the pipeline file of one component: the same topics
// and connector for all, its own login.
func aclPipeline(t *testing.T, b *securekafka.Broker, n aclNames, user, passwordFile, intakeURL string, st *s3Store) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`kafka:
  brokers: [%s]
  tls: {ca_file: %s}
  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: {file: %s}}
topics:
  events: {name: %s, partitions: 2}
  dlq: {name: %s, partitions: 1}
  state: {name: %s}
  heads: {name: %s}
  connector_prefix: %s
router:
  group: %s
  commit_interval: 100ms
  listen: 127.0.0.1:0
connectors:
  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    datadog: {url: %s, api_key: {env: ACL_DD_KEY}}
  - id: %s
    type: s3
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
%s`, b.SASLSSL, b.CAFile, user, passwordFile, n.events, n.dlq, n.state, n.heads, n.prefix, n.routerGroup, n.connector, intakeURL,
		n.s3connector, st.connectorYAML("acl")))
}

// buildInBackground builds commands of the workspace's modules (name:
// {module, package}) in the background; the function it returns waits for
// them and returns their paths, or fails the test.
func buildInBackground(t *testing.T, cmds map[string][2]string) func() map[string]string {
	t.Helper()
	dir := t.TempDir()
	type result struct {
		name, path string
		err        error
	}
	done := make(chan result, len(cmds))
	for name, c := range cmds {
		go func() {
			out := filepath.Join(dir, name)
			b, err := exec.Command("go", "build", "-C", filepath.Join("..", "..", "..", c[0]), "-o", out, c[1]).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("build %s: %w\n%s", c[1], err, b)
			}
			done <- result{name, out, err}
		}()
	}
	return func() map[string]string {
		t.Helper()
		paths := map[string]string{}
		for range cmds {
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			paths[r.name] = r.path
		}
		return paths
	}
}

// statusConnector is a connector in auditctl status --json.
type statusConnector struct {
	ID  string           `json:"id"`
	DLQ map[string]int64 `json:"dlq"`
}

// lockedBuffer is a process's log, written and read concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// kafkaClient is a client logged in as the pipeline file's user.
func kafkaClient(t *testing.T, cfg string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	p, err := pipeline.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, err := p.Kafka.ClientOpts()
	if err != nil {
		t.Fatal(err)
	}
	return mustClient(t, append(base, opts...)...)
}

func TestLeastPrivilege(t *testing.T) {
	t0 := time.Now()
	// The commands build while the broker starts.
	built := buildInBackground(t, map[string][2]string{
		"router": {"router", "./cmd/router"}, "producer": {"producer", "./cmd/producer"}, "auditctl": {"sinks", "./cmd/auditctl"}})
	b := securekafka.StartAuthorizing(t)
	bins := built()
	routerBin, producerBin, auditctlBin := bins["router"], bins["producer"], bins["auditctl"]
	t.Setenv("ACL_DD_KEY", aclDDKey)
	in := startIntake(t, aclDDKey)

	// The broker's data outlives the test: names are new on every run.
	s := uuid.NewString()[:8]
	n := aclNames{events: "acl." + s + ".events", dlq: "acl." + s + ".dlq", state: "acl." + s + ".state", heads: "acl." + s + ".heads",
		prefix: "acl." + s + ".c.", routerGroup: "acl-router-" + s, connector: "dd-" + s, s3connector: "s3-" + s}
	st := newBucket(t)
	grants := componentGrants(n)
	cfgs := map[string]string{}
	for _, c := range []string{"setup", "router", "backfill", "sink", "s3sink", "producer", "auditctl-status", "auditctl-replay", "auditctl-dlq", "auditctl-redrive"} {
		user := c + "-" + s
		cfgs[c] = aclPipeline(t, b, n, user, b.AddUser(t, user), in.url, st)
		allow(t, b, user, grants[c])
	}
	t.Logf("broker, users and ACLs ready in %v", time.Since(t0).Round(time.Millisecond))

	if code, out, _ := runCmd(t, time.Minute, nil, routerBin, "setup", "--config", cfgs["setup"]); code != 0 {
		t.Fatalf("router setup with its ACLs: exit %d\n%s", code, out)
	}
	admin := mustClient(t, kgo.SeedBrokers(b.Plain))

	// History for router backfill: events published before the router's
	// group starts, which then starts after them (its committed offsets
	// at the end), so that its live starts leave them to backfill.
	history := map[string]bool{}
	publish := func(t *testing.T, ids map[string]bool, count int) {
		t.Helper()
		var lines bytes.Buffer
		for range count {
			ev := secEvent()
			j, _ := protojson.Marshal(ev)
			lines.Write(append(j, '\n'))
			ids[ev.Id] = true
		}
		file := filepath.Join(t.TempDir(), "events.ndjson")
		if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := runCmd(t, time.Minute, nil, producerBin, "publish", "--config", cfgs["producer"], file); code != 0 {
			t.Fatalf("producer publish with its ACLs: exit %d\n%s", code, out)
		}
	}
	publish(t, history, 3)
	{
		adm := kadm.NewClient(admin)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ends, err := adm.ListEndOffsets(ctx, n.events)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		resp, err := adm.CommitOffsets(ctx, n.routerGroup, ends.Offsets())
		if err == nil {
			err = resp.Error()
		}
		cancel()
		if err != nil {
			t.Fatalf("commit the router group at the end of %s: %v", n.events, err)
		}
	}

	routerLog := &lockedBuffer{}
	var router *exec.Cmd
	defer func() {
		if router != nil {
			_ = router.Process.Kill()
			_ = router.Wait()
		}
	}()
	t.Run("the router runs without Create once router setup made the topics", func(t *testing.T) {
		for _, g := range grants["router"] {
			if slices.Contains(g.ops, opCreate) {
				t.Fatalf("the router's grants hold Create on %s", g.name)
			}
		}
		router = exec.Command(routerBin, "run", "--config", cfgs["router"])
		router.Stderr = routerLog
		if err := router.Start(); err != nil {
			t.Fatal(err)
		}
		// It routes: an event published now reaches the connector topic.
		probe := map[string]bool{}
		publish(t, probe, 1)
		var id string
		for id = range probe {
		}
		cl := mustClient(t, kgo.SeedBrokers(b.Plain), kgo.ConsumeTopics(n.connectorTopic()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.FetchMaxWait(200*time.Millisecond))
		deadline := time.Now().Add(45 * time.Second)
		for routed := false; !routed; {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				routed = routed || bytes.Contains(r.Value, []byte(id))
			})
			cancel()
			if !routed && time.Now().After(deadline) {
				t.Fatalf("after 45s the event is not in %s; router log:\n%s", n.connectorTopic(), proctest.Tail(routerLog.String(), 30))
			}
		}
		t.Logf("the router without Create routed, %v after start", time.Since(t0).Round(time.Millisecond))
	})
	if router == nil {
		t.Fatal("no router")
	}

	t.Run("each component works with exactly its ACLs", func(t *testing.T) {
		defer func() { _ = router.Process.Kill(); _ = router.Wait(); router = nil }()
		sink := startSink(t, cfgs["sink"], n.connector)
		s3sink := startSink(t, cfgs["s3sink"], n.s3connector)

		// The producer CLI publishes the events.
		want := map[string]bool{}
		publish(t, want, 5)
		// A record the router cannot decode, and one the sink cannot:
		// each is dead-lettered by the component that read it, with its
		// own Write on the DLQ. (Written by the admin: no component may
		// write a connector topic but the router.)
		bad := func(topic string) *kgo.Record {
			return &kgo.Record{Topic: topic, Value: []byte("{not an event"),
				Headers: []kgo.RecordHeader{{Key: record.HeaderContentType, Value: []byte("application/json")}}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := admin.ProduceSync(ctx, bad(n.events), bad(n.connectorTopic())).FirstErr(); err != nil {
			t.Fatalf("produce the bad records as the admin: %v", err)
		}

		dlq := mustClient(t, kgo.SeedBrokers(b.Plain), kgo.ConsumeTopics(n.dlq),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		stages := map[string]bool{}
		deadline := time.Now().Add(90 * time.Second)
		for {
			pctx, pcancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			dlq.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				for _, h := range r.Headers {
					if h.Key == record.HeaderDLQStage {
						stages[string(h.Value)] = true
					}
				}
			})
			pcancel()
			got := in.delivered(t)
			missing := 0
			for id := range want {
				if got[id] == 0 {
					missing++
				}
			}
			wantStages := []string{"router", "sink:" + n.connector}
			s3missing := len(want)
			if missing == 0 {
				events, _ := st.readAll(t, "acl")
				for _, e := range events {
					if want[e.Event.GetId()] {
						s3missing--
					}
				}
			}
			if missing == 0 && s3missing == 0 && stages[wantStages[0]] && stages[wantStages[1]] {
				t.Logf("%d events at the intake and in the bucket, dead letters of %v, %v after start", len(want), wantStages, time.Since(t0).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 90s: %d of %d events missing at the intake, %d in the bucket, dead letters of %v (want %v)\nrouter log:\n%s\nsink log:\n%s\nS3 sink log:\n%s",
					missing, len(want), s3missing, stages, wantStages, proctest.Tail(routerLog.String(), 30), proctest.Tail(sink.Log(), 30), proctest.Tail(s3sink.Log(), 30))
			}
		}
		// The S3 sink recorded its chain heads. A delivery's objects are
		// visible before its manifest and its head are written: wait.
		var heads int64
		var err error
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			var ends kadm.ListedOffsets
			ends, err = kadm.NewClient(admin).ListEndOffsets(ctx, n.heads)
			if err == nil {
				err = ends.Error()
			}
			heads = 0
			ends.Each(func(o kadm.ListedOffset) { heads += o.Offset })
			if err == nil && heads > 0 || time.Now().After(end) {
				break
			}
		}
		if err != nil || heads == 0 {
			t.Errorf("heads topic %s: %d records after 30s (%v), want the S3 sink's chain heads\nS3 sink log:\n%s",
				n.heads, heads, err, proctest.Tail(s3sink.Log(), 30))
		}
	})

	// The router recorded its live starts (after the history) while it ran.
	t.Run("router backfill works with exactly its ACLs", func(t *testing.T) {
		code, out, took := runCmd(t, time.Minute, nil, routerBin, "backfill", "--json", "--config", cfgs["backfill"],
			"--connector", n.connector, "--from", "earliest")
		var sum struct {
			Sent     int64 `json:"sent"`
			Complete bool  `json:"complete"`
		}
		i := strings.Index(out, "{\n  \"connector\"") // stderr is mixed in
		if code != 0 || i < 0 {
			t.Fatalf("router backfill: exit %d after %v, want 0 and a summary:\n%s", code, took.Round(time.Millisecond), proctest.Tail(out, 30))
		}
		if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&sum); err != nil || !sum.Complete || sum.Sent != int64(len(history)) {
			t.Errorf("router backfill: summary %+v (%v), want complete with the %d events published before the router started:\n%s",
				sum, err, len(history), proctest.Tail(out, 30))
		}
		t.Logf("router backfill: %d sent in %v", sum.Sent, took.Round(time.Millisecond))
	})

	// The router and the sink have stopped (killed): their groups are
	// empty once their sessions end.
	t.Run("each auditctl command works with exactly its ACLs", func(t *testing.T) {
		code, out, _ := runCmd(t, time.Minute, nil, auditctlBin, "status", "--config", cfgs["auditctl-status"], "--json")
		var st struct {
			Router *struct {
				Partitions []struct {
					Committed int64 `json:"committed"`
				} `json:"partitions"`
				DLQ map[string]int64 `json:"dlq"`
			} `json:"router"`
			Connectors []statusConnector `json:"connectors"`
			Errors     map[string]string `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); code != 0 || err != nil ||
			len(st.Errors) > 0 || st.Router == nil || len(st.Connectors) != 2 || len(st.Router.DLQ) == 0 || !slices.ContainsFunc(st.Connectors, func(c statusConnector) bool {
			return c.ID == n.connector && len(c.DLQ) > 0
		}) {
			t.Fatalf("auditctl status: exit %d (%v), want 0 with no errors, the router's and the connector's dead letters counted:\n%s", code, err, proctest.Tail(out, 40))
		}
		committed := int64(0)
		for _, p := range st.Router.Partitions {
			committed += max(p.Committed, 0)
		}
		if committed == 0 {
			t.Errorf("auditctl status: the router's committed offsets sum to 0, want the routed events:\n%s", out)
		}

		code, out, _ = runCmd(t, time.Minute, nil, auditctlBin, "dlq", "list", "--config", cfgs["auditctl-dlq"])
		if code != 0 || !strings.Contains(out, "sink:"+n.connector) || !strings.Contains(out, "router") {
			t.Errorf("auditctl dlq list: exit %d, want 0 listing the router's and the sink's letters:\n%s", code, proctest.Tail(out, 20))
		}

		code, out, took := runCmd(t, 2*time.Minute, nil, auditctlBin, "replay", "--config", cfgs["auditctl-replay"],
			"--connector", n.connector, "--from", "earliest", "--wait", "--every", "500ms", "--yes")
		if code != 0 {
			t.Errorf("auditctl replay: exit %d after %v, want 0:\n%s", code, took.Round(time.Millisecond), proctest.Tail(out, 20))
		}
		admin := kadm.NewClient(mustClient(t, kgo.SeedBrokers(b.Plain)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		offs, err := admin.FetchOffsets(ctx, n.sinkGroup())
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == n.connectorTopic() && o.At != 0 {
				t.Errorf("after replay --from earliest: %s partition %d committed at %d, want 0", o.Topic, o.Partition, o.At)
			}
		})

		code, out, _ = runCmd(t, time.Minute, nil, auditctlBin, "dlq", "redrive", "--config", cfgs["auditctl-redrive"], "--all", "--yes")
		if code != 0 {
			t.Errorf("auditctl dlq redrive: exit %d, want 0:\n%s", code, proctest.Tail(out, 20))
		}
		code, out, _ = runCmd(t, time.Minute, nil, auditctlBin, "dlq", "list", "--config", cfgs["auditctl-dlq"], "--json")
		if code != 0 || strings.Count(out, n.connectorTopic()+"/") == 0 || strings.Count(out, n.events+"/") == 0 {
			t.Errorf("auditctl dlq list after the redrive: exit %d, want both letters redriven (to %s and %s):\n%s", code, n.events, n.connectorTopic(), proctest.Tail(out, 40))
		}
	})

	t.Run("what a component may not do is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		t.Run("a sink cannot write the events topic", func(t *testing.T) {
			cl := kafkaClient(t, cfgs["sink"], kgo.RecordDeliveryTimeout(20*time.Second))
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: n.events, Value: []byte("forged")}).FirstErr()
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Errorf("sink produce to %s: got %v, want TOPIC_AUTHORIZATION_FAILED", n.events, err)
			}
		})
		t.Run("a sink cannot read the events topic", func(t *testing.T) {
			cl := kafkaClient(t, cfgs["sink"], kgo.ConsumeTopics(n.events), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var err error
			for err == nil && ctx.Err() == nil {
				err = cl.PollFetches(ctx).Err0()
			}
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Errorf("sink fetch of %s: got %v, want TOPIC_AUTHORIZATION_FAILED", n.events, err)
			}
		})
		t.Run("the router cannot read a sink's group", func(t *testing.T) {
			adm := kadm.NewClient(kafkaClient(t, cfgs["router"]))
			resp, err := adm.FetchOffsets(ctx, n.sinkGroup())
			if err == nil {
				err = resp.Error()
			}
			if !errors.Is(err, kerr.GroupAuthorizationFailed) {
				t.Errorf("router offset fetch of %s: got %v (offsets %v), want GROUP_AUTHORIZATION_FAILED", n.sinkGroup(), err, resp)
			}
		})
		t.Run("auditctl names the ACL a command lacks", func(t *testing.T) {
			// The dlq principal cannot read the connector's topic: a
			// setting to fix (exit 2), not Kafka unreachable (3).
			code, out, _ := runCmd(t, time.Minute, nil, auditctlBin, "replay", "--config", cfgs["auditctl-dlq"],
				"--connector", n.connector, "--from", "earliest", "--dry-run")
			if want := "missing ACL: Read on Topic " + n.connectorTopic(); code != 2 || !strings.Contains(out, want) {
				t.Errorf("auditctl replay without its ACLs: exit %d, want 2 and a message with %q:\n%s", code, want, proctest.Tail(out, 10))
			}
		})
		t.Run("the producer cannot read the events topic", func(t *testing.T) {
			cl := kafkaClient(t, cfgs["producer"], kgo.ConsumeTopics(n.events), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			var err error
			for err == nil && ctx.Err() == nil {
				err = cl.PollFetches(ctx).Err0()
			}
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Errorf("producer fetch of %s: got %v, want TOPIC_AUTHORIZATION_FAILED", n.events, err)
			}
		})
	})
	t.Logf("took %v", time.Since(t0).Round(time.Millisecond))
}
