//go:build integration

package floor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/floor"
	"github.com/auditstream/auditstream/bench/internal/sink"
)

// TestDrain drains a topic of 6 partitions holding 25 records each, in
// objects of 10: every record's value is in exactly one object, each
// partition gets objects of 10, 10 and 5 (its end flushes the last), and
// the group has committed every end offset.
func TestDrain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	brokers := strings.Split(os.Getenv("AUDITSTREAM_BROKERS"), ",")
	cl, err := cluster.New(brokers, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Cleanup(context.WithoutCancel(ctx))
	topic, err := cl.Topic(ctx, "floor-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sink.S3FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	client, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	bucket := cl.ID("floor-test")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	defer removeBucket(context.WithoutCancel(ctx), t, client, bucket)

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for p := range int32(cluster.Partitions) {
		for i := range 25 {
			v := []byte(strings.Repeat("x", i) + "-" + string(rune('a'+p)) + "-" + time.Now().Format(time.RFC3339Nano))
			want[string(v)] = true
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	prod.Close()
	group := cl.Group("floor-test")
	c, err := floor.Drain(ctx, floor.Options{Brokers: brokers, From: topic, Group: group, S3: client, Bucket: bucket, Prefix: "p", Batch: 10,
		FetchMaxBytes: 1 << 20, FetchMaxPartitionBytes: 256 << 10, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if c.In != 150 || c.Objects != 18 {
		t.Errorf("counts: got %+v, want 150 in, 18 objects", c)
	}
	got := map[string]int{}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 18 {
		t.Errorf("objects: got %d, want 18", len(list.Contents))
	}
	for _, o := range list.Contents {
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(obj.Body)
		if err != nil {
			t.Fatalf("%s: %v", aws.ToString(o.Key), err)
		}
		b, err := io.ReadAll(zr)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			got[string(line)]++
		}
	}
	for v := range want {
		if got[v] != 1 {
			t.Errorf("value %q: in %d objects, want 1", v, got[v])
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct values, want %d", len(got), len(want))
	}
	end, err := cl.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := cl.Committed(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !cluster.Reached(committed, end) {
		t.Errorf("committed %v, want the end offsets %v", committed, end)
	}
}

func removeBucket(ctx context.Context, t *testing.T, client *s3.Client, bucket string) {
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err == nil {
		for _, o := range list.Contents {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("remove bucket %s: %v", bucket, err)
	}
}
