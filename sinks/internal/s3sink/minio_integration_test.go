//go:build integration

package s3sink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// minio is the local MinIO of stack/up.sh, from the environment it writes
// (.stack/env).
type minio struct {
	endpoint, accessKeyFile, secretKeyFile string
}

func localMinio(t *testing.T) minio {
	t.Helper()
	m := minio{
		endpoint:      os.Getenv("AUDITSTREAM_S3_ENDPOINT"),
		accessKeyFile: os.Getenv("AUDITSTREAM_S3_ACCESS_KEY_FILE"),
		secretKeyFile: os.Getenv("AUDITSTREAM_S3_SECRET_KEY_FILE"),
	}
	if m.endpoint == "" || m.accessKeyFile == "" || m.secretKeyFile == "" {
		t.Fatal("AUDITSTREAM_S3_ENDPOINT, AUDITSTREAM_S3_ACCESS_KEY_FILE and AUDITSTREAM_S3_SECRET_KEY_FILE must be set: " +
			"run stack/up.sh minio, then set -a; . .stack/env; set +a")
	}
	return m
}

// connector is an s3 connector on the local MinIO with root credentials.
func (m minio) connector(id, bucket, prefix string) *config.Connector {
	return &config.Connector{ID: id, Type: config.TypeS3, Settings: &Config{
		Bucket:    bucket,
		Region:    "us-east-1",
		Prefix:    prefix,
		Endpoint:  m.endpoint,
		PathStyle: true,
		Credentials: Credentials{
			Source:          "static",
			AccessKeyID:     config.Secret{File: m.accessKeyFile},
			SecretAccessKey: config.Secret{File: m.secretKeyFile},
		},
		Encryption: Encryption{Mode: "none"},
	}}
}

// newWriter returns a Writer of its own (its own metrics registry and
// chain-head memory), as a separate sink process would have.
func newWriter(t *testing.T, c *config.Connector) *Writer {
	t.Helper()
	w, err := New(t.Context(), Options{
		Connector:  c,
		Log:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// A stuck MinIO fails the test in seconds, not minutes.
	w.timeout = 5 * time.Second
	return w
}

// newBucket creates a bucket for the test, removed (with every object
// version) when the test ends.
func (m minio) newBucket(t *testing.T, objectLock bool) string {
	t.Helper()
	var random [4]byte
	_, _ = rand.Read(random[:])
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	bucket := strings.Trim(name[:min(len(name), 50)], "-") + "-" + hex.EncodeToString(random[:])
	admin := m.admin(t)
	_, err := admin.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(objectLock)})
	if err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() { removeBucket(t, admin, bucket) })
	return bucket
}

// admin is an S3 client with the root credentials.
func (m minio) admin(t *testing.T) *s3.Client {
	t.Helper()
	return newWriter(t, m.connector("admin", "unused", "")).s3
}

func removeBucket(t *testing.T, c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("clean up bucket %s: %v", bucket, err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, v := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, id := range ids {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: id.Key, VersionId: id.VersionId,
				BypassGovernanceRetention: aws.Bool(true)})
			if err != nil {
				t.Logf("clean up %s: %v", aws.ToString(id.Key), err)
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("clean up bucket %s: %v", bucket, err)
	}
}

// storedObject is a data object read back.
type storedObject struct {
	key    string
	meta   objectMeta
	events []*auditv1.Event
}

// readAll reads back every data object of the writer's connector.
func readAll(t *testing.T, w *Writer) []storedObject {
	t.Helper()
	ctx := t.Context()
	var out []storedObject
	p := s3.NewListObjectsV2Paginator(w.s3, &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket), Prefix: aws.String(w.layout.listPrefix())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if _, _, ok := w.layout.parseObjectKey(key); !ok {
				continue
			}
			body, h, err := w.get(ctx, key, 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			meta, err := parseMeta(h)
			if err != nil {
				t.Errorf("%s: %v", key, err)
			}
			so := storedObject{key: key, meta: meta}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			sc := bufio.NewScanner(zr)
			for sc.Scan() {
				ev := new(auditv1.Event)
				if err := protojson.Unmarshal(sc.Bytes(), ev); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				so.events = append(so.events, ev)
			}
			out = append(out, so)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].meta.first < out[j].meta.first })
	return out
}

// checkExactlyOnce checks that the stored objects hold every item exactly
// once and nothing else.
func checkExactlyOnce(t *testing.T, objs []storedObject, items []batch.Item) {
	t.Helper()
	want := make(map[string]bool, len(items))
	for _, it := range items {
		want[it.Event.GetId()] = true
	}
	got := make(map[string]int)
	for _, o := range objs {
		for _, ev := range o.events {
			got[ev.GetId()]++
		}
	}
	missing, dup, extra := kafkatest.Tally(want, got)
	if missing+dup+extra > 0 {
		t.Errorf("events in S3: %d missing, %d duplicated, %d unexpected, of %d", missing, dup, extra, len(items))
	}
}

// verifyClean runs Verify and fails on any problem.
func verifyClean(t *testing.T, w *Writer, wantEvents int) *Report {
	t.Helper()
	r, err := w.Verify(t.Context())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.OK() {
		for _, p := range r.Partitions {
			for _, pr := range p.Problems {
				t.Errorf("Verify: partition %d: %s %s: %s", p.Partition, pr.Kind, pr.Key, pr.Detail)
			}
		}
	}
	if r.Events != int64(wantEvents) {
		t.Errorf("Verify: got %d events, want %d", r.Events, wantEvents)
	}
	for _, p := range r.Partitions {
		if len(p.InProgress) > 0 {
			t.Errorf("Verify: partition %d: objects no manifest lists: %v", p.Partition, p.InProgress)
		}
		if p.NoChainValue > 0 {
			t.Errorf("Verify: partition %d: %d objects without a chain value; this build writes one on every object", p.Partition, p.NoChainValue)
		}
	}
	return r
}

// withGaps drops every 7th offset, as transaction markers and dead-lettered
// records leave gaps.
func withGaps(items []batch.Item) []batch.Item {
	var out []batch.Item
	for _, it := range items {
		if it.Offset%7 != 3 {
			out = append(out, it)
		}
	}
	return out
}

// through returns the items at offsets up to last.
func through(items []batch.Item, last int64) []batch.Item {
	n := 0
	for n < len(items) && items[n].Offset <= last {
		n++
	}
	return items[:n]
}

// after returns the items at offsets after last.
func after(items []batch.Item, last int64) []batch.Item {
	return items[len(through(items, last)):]
}
