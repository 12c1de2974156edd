//go:build integration

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/stack/kafkatest"
)

// s3Pipeline is a pipeline file with one s3 connector, id, writing to st
// under the prefix e2e; batch is the connector's batch settings. Each test
// uses its own connector id, so that each has its own consumer group.
func s3Pipeline(t *testing.T, st *s3Store, id, base, prefix, batch string) string {
	return fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {dlq: {name: %s.dlq, partitions: 1}, connector_prefix: %s}
connectors:
  - id: %s
    type: s3
    listen: 127.0.0.1:0
    batch: %s
%s`, strings.Join(kafkatest.Brokers(t), ","), base, prefix, id, batch, st.connectorYAML("e2e"))
}

// TestS3SinkKilledMidBatch: 50,000 events through the sink binary into
// MinIO while the sink is killed with SIGKILL three times mid-stream.
// Every event id lands in exactly one object, and verify finds the hash
// chain and the manifests intact.
func TestS3SinkKilledMidBatch(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "arch", 3)
	st := newBucket(t)
	cfg := writeConfig(t, s3Pipeline(t, st, "arch", base, prefix, "{max_events: 2000, max_bytes: 4MiB, max_age: 1s}"))

	pub := newPublisher(t, topic, 11)
	sink := startSink(t, cfg, "arch")
	for kill := 1; kill <= 3; kill++ {
		pub.publish(12_500, nil)
		time.Sleep(time.Duration(1500+kill*400) * time.Millisecond)
		sink.Kill()
		t.Logf("SIGKILL %d", kill)
		sink = startSink(t, cfg, "arch")
	}
	pub.publish(12_500, nil)

	waitCommitted(t, "auditstream-sink-arch", topic, 120*time.Second)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects after 3 SIGKILLs", len(pub.want), objects)
	verifyS3(t, cfg, "arch", len(pub.want))
}
