//go:build integration

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// headsPipeline is s3Pipeline with a heads topic of the test's own, under
// the S3 prefix s3Prefix.
func headsPipeline(t *testing.T, st *s3Store, id, base, prefix, s3Prefix string) string {
	return fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {dlq: {name: %s.dlq, partitions: 1}, connector_prefix: %s, heads: {name: %s.heads}}
connectors:
  - id: %s
    type: s3
    listen: 127.0.0.1:0
    batch: {max_events: 100, max_bytes: 1MiB, max_age: 300ms}
%s`, strings.Join(kafkatest.Brokers(t), ","), base, prefix, base, id, st.connectorYAML(s3Prefix))
}

// archive runs the sink until the group has committed topic to its end,
// and stops it.
func archiveTopic(t *testing.T, cfg, id, topic string) {
	t.Helper()
	p := startSink(t, cfg, id)
	waitCommitted(t, "auditstream-sink-"+id, topic, 60*time.Second)
	p.Stop(30 * time.Second)
}

// refused runs the sink and expects it to refuse to start (exit 2),
// naming both topic identities, having committed nothing for topic.
func refused(t *testing.T, cfg, id, topic string) {
	t.Helper()
	p := startSink(t, cfg, id)
	if code := p.Wait(60 * time.Second); code != 2 {
		t.Fatalf("sink exited %d, want 2 (refused at startup):\n%s", code, proctest.Tail(p.Log(), 20))
	}
	log := p.Log()
	if !strings.Contains(log, "belongs to topic ID") || !strings.Contains(log, "but this sink consumes topic ID") ||
		!strings.Contains(log, "s3.prefix") {
		t.Fatalf("the refusal does not name both identities and the way out:\n%s", proctest.Tail(log, 10))
	}
	adm := kadm.NewClient(kafkatest.Client(t))
	if got := committed(t, adm, "auditstream-sink-"+id, topic); len(got) != 0 {
		t.Fatalf("the refused sink committed %v", got)
	}
}

// recreate deletes topic and creates it again with the same name: a new
// topic ID, offsets from 0 again.
func recreate(t *testing.T, topic string, partitions int32) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(kafkatest.Client(t))
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the topic created again", func() bool {
		resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
		return err == nil && resp.Err == nil
	})
	eventually(t, 30*time.Second, "the new topic's leaders known", func() bool {
		m, err := adm.Metadata(ctx, topic)
		if err != nil || m.Topics[topic].Err != nil || len(m.Topics[topic].Partitions) != int(partitions) {
			return false
		}
		for _, p := range m.Topics[topic].Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
		return true
	})
}

// TestS3IdentityTopicRecreated: the connector topic is deleted and created
// again, and its offsets start from 0 under the same bucket, prefix and
// connector id. Before identities, the sink took the new records for the
// archived ones, skipped them and committed (seen: 150 of 400 records in no
// object). Now it refuses to start; nothing of either generation is lost,
// and under a new prefix (the runbook) the new topic is archived exactly
// once.
func TestS3IdentityTopicRecreated(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "regen", 3)
	st := newBucket(t)
	cfg := writeConfig(t, headsPipeline(t, st, "regen", base, prefix, "e2e"))
	first := newPublisher(t, topic, 21)
	first.publish(400, nil)
	archiveTopic(t, cfg, "regen", topic)
	st.assertExactlyOnce(t, "e2e", first.want)

	recreate(t, topic, 3)
	second := newPublisher(t, topic, 22)
	second.publish(400, nil)
	refused(t, cfg, "regen", topic)
	st.assertExactlyOnce(t, "e2e", first.want)

	cfg2 := writeConfig(t, headsPipeline(t, st, "regen", base, prefix, "e2e-gen2"))
	archiveTopic(t, cfg2, "regen", topic)
	st.assertExactlyOnce(t, "e2e-gen2", second.want)
	st.assertExactlyOnce(t, "e2e", first.want)
}

// TestS3IdentityConnectorPrefixChanged: topics.connector_prefix changes
// while the connector id stays: the sink now reads another topic, whose
// offsets are not the archive's.
func TestS3IdentityConnectorPrefixChanged(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "moved", 2)
	base2, prefix2, topic2 := connectorTopic(t, "moved", 2)
	st := newBucket(t)
	first := newPublisher(t, topic, 23)
	first.publish(300, nil)
	archiveTopic(t, writeConfig(t, headsPipeline(t, st, "moved", base, prefix, "e2e")), "moved", topic)

	second := newPublisher(t, topic2, 24)
	second.publish(300, nil)
	refused(t, writeConfig(t, headsPipeline(t, st, "moved", base2, prefix2, "e2e")), "moved", topic2)
	st.assertExactlyOnce(t, "e2e", first.want)

	archiveTopic(t, writeConfig(t, headsPipeline(t, st, "moved", base2, prefix2, "e2e-moved")), "moved", topic2)
	st.assertExactlyOnce(t, "e2e-moved", second.want)
}

// TestS3IdentityTwoPipelines: two pipelines (two pipeline files, two
// topics: two environments) archive the same connector id to one bucket
// and prefix at the same time. The first one to start claims the prefix;
// the second refuses to start, and the first archives its own topic
// exactly once.
func TestS3IdentityTwoPipelines(t *testing.T) {
	baseA, prefixA, topicA := connectorTopic(t, "twin", 2)
	baseB, prefixB, topicB := connectorTopic(t, "twin", 2)
	st := newBucket(t)
	a, b := newPublisher(t, topicA, 25), newPublisher(t, topicB, 26)
	a.publish(300, nil)
	b.publish(300, nil)
	sinkA := startSink(t, writeConfig(t, headsPipeline(t, st, "twin", baseA, prefixA, "shared")), "twin")
	eventually(t, 30*time.Second, "the first pipeline's sink ready", sinkA.Ready)
	refused(t, writeConfig(t, headsPipeline(t, st, "twin", baseB, prefixB, "shared")), "twin", topicB)
	a.publish(300, nil)
	waitCommitted(t, "auditstream-sink-twin", topicA, 60*time.Second)
	sinkA.Stop(30 * time.Second)
	st.assertExactlyOnce(t, "shared", a.want)
}

// TestS3ReplayRestoresDeletedObject: an object of a finished delivery is
// deleted while its manifest stays (a mistaken lifecycle rule). The group
// is rewound to the start (a replay): the object comes back, nothing is
// duplicated, and the head in the heads topic is not rewound.
func TestS3ReplayRestoresDeletedObject(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "again", 2)
	st := newBucket(t)
	cfg := writeConfig(t, headsPipeline(t, st, "again", base, prefix, "e2e"))
	pub := newPublisher(t, topic, 27)
	pub.publish(2000, nil)
	archiveTopic(t, cfg, "again", topic)
	ctx := context.Background()
	heads, err := s3sink.NewKafkaHeads([]kgo.Opt{kgo.SeedBrokers(kafkatest.Brokers(t)...)}, config.Topic{Name: base + ".heads"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(heads.Close)
	before, ok, err := heads.Load(ctx, "again", 0)
	if err != nil || !ok {
		t.Fatalf("head of partition 0: %v %v", ok, err)
	}

	var victim string
	out, err := st.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String("e2e/")})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range out.Contents {
		if k := aws.ToString(o.Key); strings.HasSuffix(k, ".ndjson.gz") && strings.Contains(k, "again-0-") {
			if n++; n == 3 {
				victim = k
			}
		}
	}
	if victim == "" {
		t.Fatal("fewer than 3 objects of partition 0")
	}
	if _, err := st.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(victim)}); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(kafkatest.Client(t))
	rewind := kadm.Offsets{}
	for p := range int32(2) {
		rewind.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	if _, err := adm.CommitOffsets(ctx, "auditstream-sink-again", rewind); err != nil {
		t.Fatal(err)
	}

	p := startSink(t, cfg, "again")
	waitCommitted(t, "auditstream-sink-again", topic, 60*time.Second)
	if got := p.Metric("auditstream_s3_objects_restored_total"); got != 1 {
		t.Errorf("restored %v objects, want 1", got)
	}
	p.Stop(30 * time.Second)
	if _, err := st.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(victim)}); err != nil {
		t.Errorf("the deleted object %s is still missing: %v", victim, err)
	}
	st.assertExactlyOnce(t, "e2e", pub.want)
	after, _, err := heads.Load(ctx, "again", 0)
	if err != nil || after != before {
		t.Errorf("head after the replay: %+v (%v), want it unchanged: %+v", after, err, before)
	}
}

// TestS3IdentityTopicRecreatedWhileRunning: the connector topic is deleted
// and created again while the sink runs. The running sink writes nothing
// of the new topic (franz-go keeps fetching by the old topic ID, which the
// brokers no longer host; were it to follow the new topic, the writer asks
// Kafka for the identity again at each assignment and refuses it), and a
// restarted sink refuses to start. The old archive loses nothing.
func TestS3IdentityTopicRecreatedWhileRunning(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "live", 2)
	st := newBucket(t)
	cfg := writeConfig(t, headsPipeline(t, st, "live", base, prefix, "e2e"))
	first := newPublisher(t, topic, 28)
	first.publish(300, nil)
	p := startSink(t, cfg, "live")
	waitCommitted(t, "auditstream-sink-live", topic, 60*time.Second)

	recreate(t, topic, 2)
	second := newPublisher(t, topic, 29)
	second.publish(300, nil)
	time.Sleep(10 * time.Second)
	p.Kill()
	st.assertExactlyOnce(t, "e2e", first.want)
	refused(t, cfg, "live", topic)
	st.assertExactlyOnce(t, "e2e", first.want)
}
