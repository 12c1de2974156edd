//go:build integration

package s3sink

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// TestKafkaHeadsCreatedWithReplication: a sink that starts before `router
// setup` creates the heads topic with the pipeline file's
// min.insync.replicas, as the router would.
func TestKafkaHeadsCreatedWithReplication(t *testing.T) {
	topic := kafkatest.Topic(t, 1) + ".heads"
	adm := kadm.NewClient(kafkatest.Client(t))
	t.Cleanup(func() { _, _ = adm.DeleteTopics(t.Context(), topic) })
	heads, err := NewKafkaHeads([]kgo.Opt{kgo.SeedBrokers(kafkatest.Brokers(t)...)},
		config.Topic{Name: topic, ReplicationFactor: 1, MinInsyncReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(heads.Close)
	if err := heads.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = c.MaybeValue()
		}
	}
	for k, want := range map[string]string{"min.insync.replicas": "1", "cleanup.policy": "compact"} {
		if got[k] != want {
			t.Errorf("topic %s: got %s=%q set on the topic, want %q", topic, k, got[k], want)
		}
	}
}
