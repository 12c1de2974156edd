//go:build integration

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/auditstream/auditstream/stack/kafkatest"
)

// TestPublishDurability: the CLI reads the topic's replication before it
// publishes. A topic whose min.insync.replicas is above its replication
// factor, where every acks=all write would fail with NOT_ENOUGH_REPLICAS,
// stops the run (exit 2) before any line, with what to change; the local
// stack's topics (1 replica, 1 in sync) publish, with one warning each.
func TestPublishDurability(t *testing.T) {
	weak := kafkatest.Topic(t, 1)
	impossible := kafkatest.Topic(t, 1)
	two := "2"
	if _, err := kadm.NewClient(kafkatest.Client(t)).AlterTopicConfigs(t.Context(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: &two}}, impossible); err != nil {
		t.Fatalf("set min.insync.replicas=2 on %s: %v", impossible, err)
	}
	waitMinInsync(t, impossible, "2")
	const line = `{"projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z"}` + "\n"
	tests := []struct {
		topic     string
		code      int
		published int
		says      []string // each once on stderr
	}{
		{topic: impossible, code: exitUsage, says: []string{
			"topic " + impossible + ": min.insync.replicas 2 is above its replication factor 1",
			"--entity-name " + impossible + " --add-config min.insync.replicas=1",
		}},
		{topic: weak, code: exitOK, published: 2, says: []string{
			"topic " + weak + ": replication factor 1 is below 3",
			"topic " + weak + ": min.insync.replicas 1 is below 2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"publish", "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", tt.topic, "--quiet"}
			start := time.Now()
			code := run(context.Background(), args, strings.NewReader(line+line), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("got exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, s := range tt.says {
				if n := strings.Count(stderr.String(), s); n != 1 {
					t.Errorf("stderr says %q %d times, want once:\n%s", s, n, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "NOT_ENOUGH_REPLICAS") {
				t.Errorf("stderr has a produce failure; want the refusal first:\n%s", stderr.String())
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v, want < 10s", took)
			}
			if got := kafkatest.ReadAll(t, tt.topic, tt.published+1, 3*time.Second); len(got) != tt.published {
				t.Errorf("the topic holds %d records, want %d", len(got), tt.published)
			}
		})
	}
}

// waitMinInsync waits until the brokers report the topic's
// min.insync.replicas as want: an altered config reaches them a moment
// after the alter returns.
func waitMinInsync(t *testing.T, topic, want string) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t))
	deadline := time.Now().Add(10 * time.Second)
	for {
		rcs, err := adm.DescribeTopicConfigs(t.Context(), topic)
		if err == nil {
			if rc, err := rcs.On(topic, nil); err == nil {
				for _, c := range rc.Configs {
					if c.Key == "min.insync.replicas" && c.MaybeValue() == want {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: min.insync.replicas is not %s after 10s (%v)", topic, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
