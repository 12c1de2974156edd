//go:build integration

package main

// Least privilege, proven on a broker that enforces ACLs (KRaft's
// StandardAuthorizer, allow.everyone.if.no.acl.found=false): each component
// logs in as a SCRAM user of its own that holds exactly the ACLs README.md
// documents ("Least privilege"), and does its work: router setup, the
// router, a Datadog sink, the producer CLI, and auditctl status, dlq list,
// replay and dlq redrive. What a component must not do is refused. The
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
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
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
	events, dlq, prefix, routerGroup, connector string
}

func (n aclNames) connectorTopic() string { return n.prefix + n.connector }
func (n aclNames) sinkGroup() string      { return "auditstream-sink-" + n.connector }

const (
	topicRes = kmsg.ACLResourceTypeTopic
	groupRes = kmsg.ACLResourceTypeGroup
	txnRes   = kmsg.ACLResourceTypeTransactionalId
)

const (
	opRead   = kadm.OpRead
	opWrite  = kadm.OpWrite
	opCreate = kadm.OpCreate
)

// componentGrants are README.md's ACL tables.
func componentGrants(n aclNames) map[string][]grant {
	ops := func(o ...kadm.ACLOperation) []kadm.ACLOperation { return o }
	return map[string][]grant{
		// router setup: creates the pipeline's topics.
		"setup": {
			{topicRes, n.events, false, ops(opCreate)},
			{topicRes, n.dlq, false, ops(opCreate)},
			{topicRes, n.prefix, true, ops(opCreate)},
		},
		// router run: reads the events in its group, writes the connector
		// topics and the DLQ in transactions under ids prefixed with its
		// group. It asks to create every topic at start and on reload
		// (topics.Ensure), and Kafka refuses that without Create even
		// when the topic exists: hence Create.
		"router": {
			{topicRes, n.events, false, ops(opRead, opCreate)},
			{topicRes, n.dlq, false, ops(opWrite, opCreate)},
			{topicRes, n.prefix, true, ops(opWrite, opCreate)},
			{groupRes, n.routerGroup, false, ops(opRead)},
			{txnRes, n.routerGroup + "-", true, ops(opWrite)},
		},
		// A sink of one connector: its topic and group, and the DLQ.
		"sink": {
			{topicRes, n.connectorTopic(), false, ops(opRead)},
			{groupRes, n.sinkGroup(), false, ops(opRead)},
			{topicRes, n.dlq, false, ops(opWrite)},
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
			{groupRes, n.routerGroup, false, ops(kadm.OpDescribe)},
			{groupRes, "auditstream-sink-", true, ops(kadm.OpDescribe)},
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
func aclPipeline(t *testing.T, b *securekafka.Broker, n aclNames, user, passwordFile, intakeURL string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`kafka:
  brokers: [%s]
  tls: {ca_file: %s}
  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: {file: %s}}
topics:
  events: {name: %s, partitions: 2}
  dlq: {name: %s, partitions: 1}
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
`, b.SASLSSL, b.CAFile, user, passwordFile, n.events, n.dlq, n.prefix, n.routerGroup, n.connector, intakeURL))
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

// kafkaClient is a client logged in as the pipeline file's user.
func kafkaClient(t *testing.T, cfg string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	p, err := config.Load(cfg)
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
	n := aclNames{events: "acl." + s + ".events", dlq: "acl." + s + ".dlq", prefix: "acl." + s + ".c.",
		routerGroup: "acl-router-" + s, connector: "dd-" + s}
	grants := componentGrants(n)
	cfgs := map[string]string{}
	for _, c := range []string{"setup", "router", "sink", "producer", "auditctl-status", "auditctl-replay", "auditctl-dlq", "auditctl-redrive"} {
		user := c + "-" + s
		cfgs[c] = aclPipeline(t, b, n, user, b.AddUser(t, user), in.url)
		allow(t, b, user, grants[c])
	}
	// A router with every ACL but Create, to show why it needs Create.
	noCreate := "router-nocreate-" + s
	cfgs["router-nocreate"] = aclPipeline(t, b, n, noCreate, b.AddUser(t, noCreate), in.url)
	var without []grant
	for _, g := range grants["router"] {
		var ops []kadm.ACLOperation
		for _, o := range g.ops {
			if o != opCreate {
				ops = append(ops, o)
			}
		}
		without = append(without, grant{g.res, g.name, g.prefixed, ops})
	}
	allow(t, b, noCreate, without)
	t.Logf("broker, users and ACLs ready in %v", time.Since(t0).Round(time.Millisecond))

	if code, out, _ := runCmd(t, time.Minute, nil, routerBin, "setup", "--config", cfgs["setup"]); code != 0 {
		t.Fatalf("router setup with its ACLs: exit %d\n%s", code, out)
	}

	t.Run("the router needs Create even when the topics exist", func(t *testing.T) {
		code, out, took := runCmd(t, 45*time.Second, nil, routerBin, "run", "--config", cfgs["router-nocreate"])
		if want := "create topic " + n.events + ": TOPIC_AUTHORIZATION_FAILED"; code == 0 || !strings.Contains(out, want) {
			t.Errorf("router run without Create: exit %d after %v, want a failure that says %q; output:\n%s",
				code, took.Round(time.Millisecond), want, tail(out, 15))
		}
	})

	admin := mustClient(t, kgo.SeedBrokers(b.Plain))
	t.Run("each component works with exactly its ACLs", func(t *testing.T) {
		router := exec.Command(routerBin, "run", "--config", cfgs["router"])
		var rlog bytes.Buffer
		router.Stderr = &syncWriter{w: &rlog}
		if err := router.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = router.Process.Kill(); _ = router.Wait() }()
		sink := startSink(t, cfgs["sink"], n.connector)

		// The producer CLI publishes the events.
		want := map[string]bool{}
		var lines bytes.Buffer
		for range 5 {
			ev := secEvent()
			j, _ := protojson.Marshal(ev)
			lines.Write(append(j, '\n'))
			want[ev.Id] = true
		}
		file := filepath.Join(t.TempDir(), "events.ndjson")
		if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := runCmd(t, time.Minute, nil, producerBin, "publish", "--config", cfgs["producer"], file); code != 0 {
			t.Fatalf("producer publish with its ACLs: exit %d\n%s", code, out)
		}
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
			if missing == 0 && stages[wantStages[0]] && stages[wantStages[1]] {
				t.Logf("%d events at the intake and dead letters of %v, %v after start", len(want), wantStages, time.Since(t0).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 90s: %d of %d events missing at the intake, dead letters of %v (want %v)\nrouter log:\n%s\nsink log:\n%s",
					missing, len(want), stages, wantStages, tail(rlog.String(), 30), tail(sink.Log(), 30))
			}
		}
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
			Connectors []struct {
				DLQ map[string]int64 `json:"dlq"`
			} `json:"connectors"`
			Errors map[string]string `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); code != 0 || err != nil ||
			len(st.Errors) > 0 || st.Router == nil || len(st.Connectors) != 1 || len(st.Router.DLQ) == 0 || len(st.Connectors[0].DLQ) == 0 {
			t.Fatalf("auditctl status: exit %d (%v), want 0 with no errors, the router's and the connector's dead letters counted:\n%s", code, err, tail(out, 40))
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
			t.Errorf("auditctl dlq list: exit %d, want 0 listing the router's and the sink's letters:\n%s", code, tail(out, 20))
		}

		code, out, took := runCmd(t, 2*time.Minute, nil, auditctlBin, "replay", "--config", cfgs["auditctl-replay"],
			"--connector", n.connector, "--from", "earliest", "--wait", "--every", "500ms", "--yes")
		if code != 0 {
			t.Errorf("auditctl replay: exit %d after %v, want 0:\n%s", code, took.Round(time.Millisecond), tail(out, 20))
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
			t.Errorf("auditctl dlq redrive: exit %d, want 0:\n%s", code, tail(out, 20))
		}
		code, out, _ = runCmd(t, time.Minute, nil, auditctlBin, "dlq", "list", "--config", cfgs["auditctl-dlq"], "--json")
		if code != 0 || strings.Count(out, n.connectorTopic()+"/") == 0 || strings.Count(out, n.events+"/") == 0 {
			t.Errorf("auditctl dlq list after the redrive: exit %d, want both letters redriven (to %s and %s):\n%s", code, n.events, n.connectorTopic(), tail(out, 40))
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
