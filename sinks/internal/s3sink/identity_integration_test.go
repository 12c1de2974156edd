//go:build integration

package s3sink

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// newWriterWith is newWriter with the topic's identity and a head store.
func newWriterWith(t *testing.T, c *config.Connector, id Identity, heads HeadStore) *Writer {
	t.Helper()
	w, err := New(t.Context(), Options{
		Connector:  c,
		Log:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer: prometheus.NewRegistry(),
		Topic:      "audit.connector." + c.ID,
		Identity:   id,
		Heads:      heads,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w.timeout = 5 * time.Second
	return w
}

// checkIdentityRecorded fails unless every object and manifest of the
// writer's connector records want.
func checkIdentityRecorded(t *testing.T, w *Writer, want Identity) {
	t.Helper()
	objs := readAll(t, w)
	if len(objs) == 0 {
		t.Fatal("no objects")
	}
	for _, o := range objs {
		if o.meta.identity != want {
			t.Errorf("object %s records %+v, want %+v", o.key, o.meta.identity, want)
		}
	}
	out, err := w.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket),
		Prefix: aws.String(w.layout.join("_manifests/"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		body, _, err := w.get(t.Context(), aws.ToString(o.Key), maxManifestBytes)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseManifest(body)
		if err != nil {
			t.Fatal(err)
		}
		if m.Identity != want {
			t.Errorf("manifest %s records %+v, want %+v", aws.ToString(o.Key), m.Identity, want)
		}
	}
}

// TestIdentityNewCluster: the pipeline moves to a new Kafka cluster, whose
// connector topic starts again from offset 0, under the same bucket,
// prefix and connector id. The new cluster is simulated by its identity
// alone (the writer takes it as an option; main learns it from Kafka):
// same topic ID, another cluster ID. Before identities, the writer took
// the new offsets 0-199 for the ones already archived and skipped them.
// Now Check refuses to start, naming both identities; a writer that meets
// the old archive mid-run (no Check) refuses to write, as an operator
// error; nothing of the new cluster is written, and the archive is as it
// was. Following the runbook (a new prefix), the new cluster's records
// are archived exactly once.
func TestIdentityNewCluster(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	old := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAAAQ", ClusterID: "old-cluster"}
	moved := Identity{TopicID: old.TopicID, ClusterID: "new-cluster"}
	c := m.connector("id", bucket, "audit")
	was := sampleItems(200, 0, 1)
	now := sampleItems(200, 0, 2) // the new cluster's records at the same offsets

	a := newWriterWith(t, c, old, nil)
	if err := a.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	write(t, a, batchOf(0, 0, was))
	checkIdentityRecorded(t, a, old)

	b := newWriterWith(t, c, moved, nil)
	err := b.Check(t.Context())
	if err == nil || !sink.IsUnauthorized(err) || !strings.Contains(err.Error(), "old-cluster") || !strings.Contains(err.Error(), "new-cluster") {
		t.Fatalf("Check of the new cluster's writer: got %v, want an operator error naming both clusters", err)
	}
	_, err = b.Write(t.Context(), batchOf(0, 0, now))
	if err == nil || !sink.IsUnauthorized(err) {
		t.Fatalf("Write of the new cluster's records: got %v, want an operator error", err)
	}
	checkExactlyOnce(t, readAll(t, a), was)

	// A writer whose topic changes identity while it runs refuses at the
	// next assignment.
	c2 := newWriterWith(t, c, old, nil)
	c2.current = func(context.Context) (Identity, error) { return moved, nil }
	if _, err := c2.Write(t.Context(), batchOf(0, 200, sampleItems(10, 200, 8))); err == nil || !sink.IsUnauthorized(err) ||
		!strings.Contains(err.Error(), "while the sink ran") {
		t.Fatalf("Write after the identity changed: got %v, want an operator error", err)
	}
	checkExactlyOnce(t, readAll(t, a), was)

	// The runbook: the new cluster's pipeline gets its own prefix.
	fresh := newWriterWith(t, m.connector("id", bucket, "audit-new-cluster"), moved, nil)
	if err := fresh.Check(t.Context()); err != nil {
		t.Fatalf("Check under a new prefix: %v", err)
	}
	write(t, fresh, batchOf(0, 0, now))
	checkExactlyOnce(t, readAll(t, fresh), now)
	checkExactlyOnce(t, readAll(t, a), was)
}

// TestIdentityLegacyArchive: an archive written before identities were
// recorded is taken as the topic's by the first writer that records one
// (with a warning): it claims the key space and the chain goes on.
func TestIdentityLegacyArchive(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	c := m.connector("legacy", bucket, "audit")
	items := sampleItems(400, 0, 3)
	write(t, newWriter(t, c), batchOf(0, 0, through(items, 199)))

	id := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAAAg", ClusterID: "c1"}
	w := newWriterWith(t, c, id, nil)
	if err := w.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	write(t, w, batchOf(0, 200, after(items, 199)))
	checkExactlyOnce(t, readAll(t, w), items)
	if p := verifyClean(t, w, len(items)).Partitions[0]; len(p.ChainStarts) != 1 {
		t.Errorf("chain starts %v, want one chain", p.ChainStarts)
	}
	other := newWriterWith(t, c, Identity{TopicID: "AAAAAAAAAAAAAAAAAAAAAw", ClusterID: "c1"}, nil)
	if err := other.Check(t.Context()); err == nil || !sink.IsUnauthorized(err) {
		t.Fatalf("Check of another topic after the claim: got %v, want an operator error", err)
	}
}

// TestRetentionInsideUnfinishedDelivery: a writer claimed delivery 0-299
// and stopped after its anchor. Then retention deleted the partition's
// records up to offset 100 (or an operator moved the group there). The
// next owner must not write 100-299 as a new delivery next to the stopped
// writer's anchor, which holds some of the same records: before claims it
// did, silently (seen: offsets 6 and 8 twice). It finishes the stopped
// writer's delivery instead: the anchor stays, the records of 100-299 that
// the anchor does not hold are written as the rest of the delivery, and
// nothing is in S3 twice. The records before 100 that no object holds are
// the loss (counted by the runtime as expired).
func TestRetentionInsideUnfinishedDelivery(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	id := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAABA", ClusterID: "c1"}
	items := sampleItems(400, 0, 4)
	for _, tt := range []struct {
		name  string
		start int64 // the committed offset the next owner begins at
	}{
		{"retention, the group's offset below the log start", 0},
		{"a reset into the delivery", 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := m.connector("ret", bucket, strings.ReplaceAll(tt.name, " ", "-"))
			dead := newWriterWith(t, c, id, nil)
			d, err := dead.build(0, 0, through(items, 299))
			if err != nil {
				t.Fatal(err)
			}
			d.chain(link{})
			if err := dead.claim(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if err := dead.putObject(t.Context(), d, d.anchor()); err != nil {
				t.Fatal(err)
			}
			// What S3 must hold in the end: the anchor's records, and every
			// record from 100 on, once.
			want := after(items, 99)
			for _, it := range through(items, 99) {
				if groupItems([]batch.Item{it})[0].project == groupItems(through(items, 0))[0].project &&
					it.Event.GetOccurred().AsTime().UTC().Truncate(time.Hour).Equal(groupItems(through(items, 0))[0].hour) {
					want = append(want, it)
				}
			}

			next := newWriterWith(t, c, id, nil)
			write(t, next, batchOf(0, tt.start, through(after(items, 99), 299)))
			write(t, next, batchOf(0, 300, after(items, 299)))
			checkExactlyOnce(t, readAll(t, next), want)
			r := verifyClean(t, next, len(want))
			if p := r.Partitions[0]; len(p.ChainStarts) != 1 {
				t.Errorf("chain starts %v, want one chain", p.ChainStarts)
			}
		})
	}
}

// TestReplayRestoresMissingObject: an object of a finished delivery is
// deleted (a mistaken lifecycle rule) while its manifest stays. A replay
// from the start writes it again, byte for byte, and duplicates nothing.
// Before, the writer skipped the finished delivery on its manifest alone,
// and the object stayed missing.
func TestReplayRestoresMissingObject(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	c := m.connector("replay", bucket, "audit")
	id := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAABQ", ClusterID: "c1"}
	items := sampleItems(600, 0, 5)
	w := newWriterWith(t, c, id, nil)
	write(t, w, batchOf(0, 0, through(items, 299)))
	write(t, w, batchOf(0, 300, after(items, 299)))
	d, err := w.build(0, 0, through(items, 299))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.objects) < 3 {
		t.Fatalf("the delivery has %d objects; the test needs 3", len(d.objects))
	}
	lost := d.objects[2].key
	del(t, w, lost)

	replay := newWriterWith(t, c, id, nil)
	write(t, replay, batchOf(0, 0, through(items, 299)))
	write(t, replay, batchOf(0, 300, after(items, 299)))
	checkExactlyOnce(t, readAll(t, replay), items)
	verifyClean(t, replay, len(items))
	if got := testutil.ToFloat64(replay.m.restored); got != 1 {
		t.Errorf("restored %v objects, want 1", got)
	}
}

// TestKafkaHeads: each delivery moves the partition's head in the heads
// topic before Write returns; a replay (a new writer from offset 0) reads
// the head, takes the batch as a replay, and never rewinds the head.
func TestKafkaHeads(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	c := m.connector("heads", bucket, "audit")
	id := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAABg", ClusterID: "c1"}
	topic := kafkatest.Topic(t, 1)
	heads, err := NewKafkaHeads([]kgo.Opt{kgo.SeedBrokers(kafkatest.Brokers(t)...)}, config.Topic{Name: topic + ".heads"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(heads.Close)
	t.Cleanup(func() { _, _ = kadm.NewClient(kafkatest.Client(t)).DeleteTopics(t.Context(), topic+".heads") })
	if err := heads.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	items, other := sampleItems(600, 0, 6), sampleItems(100, 0, 7)
	w := newWriterWith(t, c, id, heads)
	write(t, w, batchOf(0, 0, through(items, 299)))
	write(t, w, batchOf(1, 0, other))
	write(t, w, batchOf(0, 300, after(items, 299)))

	check := func(when string, partition int32, want int64) {
		t.Helper()
		h, ok, err := heads.Load(t.Context(), "heads", partition)
		if err != nil || !ok {
			t.Fatalf("%s: Load: %v %v", when, ok, err)
		}
		mf, err := w.getManifest(t.Context(), partition, want+1)
		if err != nil {
			t.Fatalf("%s: manifest at %d: %v", when, want+1, err)
		}
		if h.Last != want || h.SHA256 != mf.Head || h.Chain != mf.Chain || !isSHA256(h.Chain) || h.Identity != id ||
			h.Manifest != w.layout.manifestKey(partition, want+1) {
			t.Errorf("%s: partition %d head %+v; want last %d, sha256 %.12s, chain %.12s, %+v", when, partition, h, want, mf.Head, mf.Chain, id)
		}
	}
	check("after the deliveries", 0, 599)
	check("after the deliveries", 1, 99)

	replay := newWriterWith(t, c, id, heads)
	write(t, replay, batchOf(0, 0, through(items, 299)))
	check("after a replay of 0-299", 0, 599)
	checkExactlyOnce(t, readAll(t, replay), append(append([]batch.Item(nil), items...), other...))
}

// TestUnfinishedDeliveryClaimDisagrees: two writers with different batch
// boundaries raced for the same first record; one wrote the claim (0-199),
// the other the anchor (0-299), and both stopped. The claim cannot finish
// the anchor's delivery: the next owner, at offset 100, writes nothing and
// fails with an operator error that says where to resume.
func TestUnfinishedDeliveryClaimDisagrees(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	id := Identity{TopicID: "AAAAAAAAAAAAAAAAAAAABw", ClusterID: "c1"}
	c := m.connector("race", bucket, "audit")
	items := sampleItems(300, 0, 9)
	dead := newWriterWith(t, c, id, nil)
	short, err := dead.build(0, 0, through(items, 199))
	if err != nil {
		t.Fatal(err)
	}
	short.chain(link{})
	if err := dead.claim(t.Context(), short); err != nil {
		t.Fatal(err)
	}
	long, err := dead.build(0, 0, items)
	if err != nil {
		t.Fatal(err)
	}
	long.chain(link{})
	if err := dead.putObject(t.Context(), long, long.anchor()); err != nil {
		t.Fatal(err)
	}
	next := newWriterWith(t, c, id, nil)
	_, err = next.Write(t.Context(), batchOf(0, 100, after(items, 99)))
	if err == nil || !sink.IsUnauthorized(err) || !strings.Contains(err.Error(), "reset the partition's offset to 0") {
		t.Fatalf("Write(100-299): got %v, want an operator error that says to reset to 0", err)
	}
	if objs := readAll(t, next); len(objs) != 1 {
		t.Fatalf("got %d objects, want only the anchor", len(objs))
	}
}
