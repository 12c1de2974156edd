//go:build integration

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// runRouter runs a router command to its end, within a minute, and
// returns its exit code and its output.
func runRouter(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, routerBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("router %v did not end within a minute:\n%s", args, out)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// setupPipeline writes a pipeline file whose topics are named after base,
// with topics, the YAML of the topics block's classes, and one connector,
// "a".
func setupPipeline(t *testing.T, base, topics string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	doc := fmt.Sprintf(`kafka: {brokers: [%s]}
topics:
  connector_prefix: %s.c.
%s
router: {group: %[2]s.router}
connectors:
  - {id: a, type: s3, s3: {bucket: unused}}
`, strings.Join(kafkatest.Brokers(t), ", "), base, topics)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// minInsync returns the topic's min.insync.replicas as the brokers report
// it, and whether it is the topic's own setting (not a broker default).
func minInsync(t *testing.T, adm *kadm.Client, topic string) (string, bool) {
	t.Helper()
	v, own, err := describeMinInsync(t.Context(), adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	return v, own
}

func describeMinInsync(ctx context.Context, adm *kadm.Client, topic string) (string, bool, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return "", false, fmt.Errorf("describe the configs of %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return "", false, fmt.Errorf("describe the configs of %s: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" {
			return c.MaybeValue(), c.Source == kmsg.ConfigSourceDynamicTopicConfig, nil
		}
	}
	return "", false, fmt.Errorf("topic %s: no min.insync.replicas in its configs", topic)
}

// TestSetupDurability: router setup creates each topic class with the
// file's replication factor and min.insync.replicas (unset: the brokers'
// defaults), leaves an existing topic as it is but says where it differs
// from the file, warns once about the local stack's weak settings, and
// refuses (exit 2, with what to change) what cannot keep an acknowledged
// event or cannot be created.
func TestSetupDurability(t *testing.T) {
	adm := kadm.NewClient(kafkatest.Client(t))

	t.Run("applied", func(t *testing.T) {
		base := kafkatest.Topic(t, 1) // exists: the DLQ of this pipeline
		cfg := setupPipeline(t, base, fmt.Sprintf(`  events: {name: %[1]s.ev, partitions: 2, replication_factor: 1, min_insync_replicas: 1}
  dlq: {name: %[1]s, replication_factor: 3, min_insync_replicas: 2}
  connector: {partitions: 1, replication_factor: 1, min_insync_replicas: 1}
  state: {name: %[1]s.state, min_insync_replicas: 1}
  heads: {name: %[1]s.heads}`, base))
		code, out := runRouter(t, "setup", "--config", cfg)
		if code != 0 {
			t.Fatalf("router setup: exit %d, want 0:\n%s", code, out)
		}
		for _, topic := range []string{base + ".ev", base + ".c.a", base + ".state"} {
			if v, own := minInsync(t, adm, topic); v != "1" || !own {
				t.Errorf("topic %s: got min.insync.replicas %s (the topic's own: %v), want 1, set on the topic", topic, v, own)
			}
		}
		for _, topic := range []string{base + ".heads", base} {
			if v, own := minInsync(t, adm, topic); own {
				t.Errorf("topic %s: got min.insync.replicas %s set on the topic, want the brokers' default", topic, v)
			}
		}
		for _, s := range []string{
			// The existing topic is not altered, and said to differ.
			"topic " + base + " has replication factor 1, the pipeline file says 3 (topics.dlq.replication_factor)",
			"topic " + base + " has min.insync.replicas 1, the pipeline file says 2 (topics.dlq.min_insync_replicas)",
			// One line for all the weak topics, each said once.
			"replication factor 1 is below 3",
			"min.insync.replicas 1 is below 2",
		} {
			if n := strings.Count(out, s); n != 1 {
				t.Errorf("setup says %q %d times, want once:\n%s", s, n, out)
			}
		}
		if !strings.Contains(out, base+".ev, "+base+", "+base+".state, "+base+".heads, "+base+".c.a: replication factor 1 is below 3") {
			t.Errorf("want one warning naming every topic:\n%s", out)
		}
	})

	t.Run("min_insync_replicas above the brokers' default replication factor", func(t *testing.T) {
		base := kafkatest.Topic(t, 1)
		cfg := setupPipeline(t, base, fmt.Sprintf(`  events: {name: %[1]s.ev, min_insync_replicas: 2}
  dlq: {name: %[1]s.dlq}
  state: {name: %[1]s.state}`, base))
		code, out := runRouter(t, "setup", "--config", cfg)
		if want := "topic " + base + ".ev: min.insync.replicas 2 is above its replication factor 1: no acks=all write can succeed; " +
			"lower the topic's min.insync.replicas to at most 1 (kafka-configs.sh --alter --entity-type topics --entity-name " + base + ".ev --add-config min.insync.replicas=1)"; code != 2 || !strings.Contains(out, want) {
			t.Fatalf("router setup: exit %d, want 2 saying %q:\n%s", code, want, out)
		}
		if v, own := minInsync(t, adm, base+".ev"); v != "2" || !own {
			t.Errorf("got min.insync.replicas %s (the topic's own: %v), want 2, as the file says", v, own)
		}
	})

	t.Run("replication_factor above the number of brokers", func(t *testing.T) {
		base := kafkatest.Topic(t, 1)
		cfg := setupPipeline(t, base, fmt.Sprintf(`  events: {name: %[1]s.ev, replication_factor: 2}
  dlq: {name: %[1]s.dlq}
  state: {name: %[1]s.state}`, base))
		code, out := runRouter(t, "setup", "--config", cfg)
		if want := "create topic " + base + ".ev with replication factor 2 (topics.events.replication_factor): INVALID_REPLICATION_FACTOR"; code != 2 || !strings.Contains(out, want) || !strings.Contains(out, "lower replication_factor") {
			t.Fatalf("router setup: exit %d, want 2 saying %q and what to change:\n%s", code, want, out)
		}
	})
}

// TestRouteDurability: the router reads its topics' replication at start.
// It refuses to run (exit 2, with what to change) when a topic's
// min.insync.replicas is above its replication factor, where every one of
// its transactions would abort with NOT_ENOUGH_REPLICAS; on the local
// stack's topics it routes, and says once that they are weak.
func TestRouteDurability(t *testing.T) {
	conns := []config.Connector{{ID: "all"}}

	t.Run("refuses min.insync.replicas above the replication factor", func(t *testing.T) {
		tp := newPipeline(t, conns)
		// The connector's topic exists already, with a setting no acks=all
		// write (the router's transactions) can meet.
		connTopic := tp.prefix + "all"
		adm := kadm.NewClient(kafkatest.Client(t))
		resp, err := adm.CreateTopic(t.Context(), 3, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, connTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", connTopic, err)
		}
		waitMinInsync(t, connTopic, "2")
		evs := generate(11, 20)
		publish(t, tp.events, evs)

		code, out := runRouter(t, "run", "--config", tp.path)
		if want := "topic " + connTopic + ": min.insync.replicas 2 is above its replication factor 1"; code != 2 || !strings.Contains(out, want) || !strings.Contains(out, "kafka-configs.sh") {
			t.Fatalf("router run: exit %d, want 2 saying %q and what to change:\n%s", code, want, out)
		}
		if strings.Contains(out, "NOT_ENOUGH_REPLICAS") {
			t.Errorf("a transaction failed before the refusal:\n%s", out)
		}
		// Nothing was routed or committed: every event is still there for
		// the router that runs once the topic is fixed.
		offsets, err := adm.FetchOffsets(t.Context(), tp.events+".router")
		if err != nil {
			t.Fatalf("fetch the router group's offsets: %v", err)
		}
		if n := len(offsets.Offsets()); n != 0 {
			t.Errorf("the router group committed %d offsets, want none", n)
		}
		if got := kafkatest.ReadAll(t, tp.events, len(evs)+1, 3*time.Second); len(got) != len(evs) {
			t.Errorf("the events topic holds %d records, want the %d published", len(got), len(evs))
		}
	})

	t.Run("backfill refuses min.insync.replicas above the replication factor", func(t *testing.T) {
		tp := newPipeline(t, conns)
		connTopic := tp.prefix + "all"
		resp, err := kadm.NewClient(kafkatest.Client(t)).CreateTopic(t.Context(), 3, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, connTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", connTopic, err)
		}
		waitMinInsync(t, connTopic, "2")
		// Exit 2 comes before exit 3 (no live start recorded: the router
		// never ran on this pipeline).
		code, _, stderr := runBackfill(t, "--config", tp.path, "--connector", "all", "--from", "earliest")
		if want := "topic " + connTopic + ": min.insync.replicas 2 is above its replication factor 1"; code != 2 || !strings.Contains(stderr, want) {
			t.Fatalf("router backfill: exit %d, want 2 saying %q:\n%s", code, want, stderr)
		}
	})

	t.Run("warns once on the local stack, and refuses a reload that needs an impossible topic", func(t *testing.T) {
		tp := newPipeline(t, conns)
		p := startRouter(t, tp.path)
		p.waitFor(t, "min.insync.replicas 1 is below 2", 1, 60*time.Second)
		evs := generate(12, 20)
		publish(t, tp.events, evs)
		checkTopic(t, tp.prefix+"all", expected(t, conns, evs)["all"])
		for _, s := range []string{"replication factor 1 is below 3", "min.insync.replicas 1 is below 2"} {
			if n := strings.Count(p.log(), s); n != 1 {
				t.Errorf("the router says %q %d times, want once:\n%s", s, n, p.log())
			}
		}

		// A connector added by a reload whose topic exists with
		// min.insync.replicas above its replication factor: the reload is
		// refused, and the running connectors keep routing.
		added := tp.prefix + "added"
		resp, err := kadm.NewClient(kafkatest.Client(t)).CreateTopic(t.Context(), 1, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, added)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", added, err)
		}
		waitMinInsync(t, added, "2")
		tp.write(t, append(conns, config.Connector{ID: "added"}))
		_ = p.cmd.Process.Signal(syscallHUP)
		p.waitFor(t, "config reload failed", 1, 30*time.Second)
		if want := "topic " + added + ": min.insync.replicas 2 is above its replication factor 1"; !strings.Contains(p.log(), want) {
			t.Errorf("the reload's refusal does not say %q:\n%s", want, p.log())
		}
		more := generate(13, 20)
		publish(t, tp.events, more)
		checkTopic(t, tp.prefix+"all", expected(t, conns, append(evs, more...))["all"])
	})
}

// waitMinInsync waits until the brokers report the topic's
// min.insync.replicas as want: an altered config reaches them a moment
// after the alter returns.
func waitMinInsync(t *testing.T, topic, want string) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t))
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _, err := describeMinInsync(t.Context(), adm, topic)
		if err == nil && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: min.insync.replicas is not %s after 10s (%q, %v)", topic, want, v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
