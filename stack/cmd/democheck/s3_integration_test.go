//go:build integration

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/config"
)

// minioConnector is an S3 connector on the local MinIO of stack/up.sh, from
// the environment it writes (.stack/env), in a bucket of its own.
func minioConnector(t *testing.T, id, bucket, prefix string) *config.Connector {
	t.Helper()
	endpoint, ak, sk := os.Getenv("AUDITSTREAM_S3_ENDPOINT"), os.Getenv("AUDITSTREAM_S3_ACCESS_KEY_FILE"), os.Getenv("AUDITSTREAM_S3_SECRET_KEY_FILE")
	if endpoint == "" || ak == "" || sk == "" {
		t.Fatal("AUDITSTREAM_S3_ENDPOINT, AUDITSTREAM_S3_ACCESS_KEY_FILE and AUDITSTREAM_S3_SECRET_KEY_FILE must be set: " +
			"run stack/up.sh minio, then set -a; . .stack/env; set +a")
	}
	p, err := config.Parse("pipeline.yaml", fmt.Appendf(nil, "kafka: {brokers: [127.0.0.1:1]}\nconnectors:\n  - id: %s\n    type: s3\n"+
		"    s3: {bucket: %s, region: us-east-1, prefix: %q, endpoint: %s, path_style: true, "+
		"credentials: {source: static, access_key_id: {file: %s}, secret_access_key: {file: %s}}}\n", id, bucket, prefix, endpoint, ak, sk))
	if err != nil {
		t.Fatal(err)
	}
	return &p.Connectors[0]
}

func gz(t *testing.T, lines ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestS3PollReadsOnlyItsConnectorsObjectsInTheEventsDirectories: two
// connectors share a bucket and a prefix; each counts the events of its own
// objects, in the date directories of the published events only, and each
// object once however often it polls.
func TestS3PollReadsOnlyItsConnectorsObjectsInTheEventsDirectories(t *testing.T) {
	ctx := t.Context()
	bucket := fmt.Sprintf("democheck-%d", time.Now().UnixNano())
	a := minioConnector(t, "s3", bucket, "/audit/")
	ra, err := newS3Reader(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := ra.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	evs := []event{ev("e1", "p", "LoginSucceed", "T0001"), ev("e2", "p", "LoginSucceed"), ev("e3", "q", "UserCreated")}
	put("audit/p/2026/11/29/21/s3-0-00000000000000000000.ndjson.gz", gz(t, `{"id":"old"}`, `{"id":"e1","action":"LoginSucceed"}`))
	put("audit/q/2026/11/29/21/s3-1-00000000000000000007.ndjson.gz", gz(t, `{"id":"e3"}`, `{"id":"e1"}`))
	put("audit/p/2026/11/29/21/s3-2-0-00000000000000000000.ndjson.gz", gz(t, `{"id":"e2"}`)) // connector s3-2
	put("audit/p/2026/11/29/20/s3-0-00000000000000000000.ndjson.gz", gz(t, `{"id":"e2"}`))   // another hour
	put("audit/_manifests/s3/0/00000000000000000002.json", []byte(`{}`))                     // not an object
	put("audit/p/2026/11/29/21/s3-3-00000000000000000000.ndjson.gz", []byte("not gzip"))

	published := map[string]bool{"e1": true, "e2": true, "e3": true}
	tg := &target{id: "s3", typ: config.TypeS3, want: map[string]bool{"e1": true, "e3": true}, seen: map[string]int{}}
	if err := ra.poll(ctx, dirs(evs), tg, published); err == nil {
		t.Fatal("an object that is not gzip: got no error")
	}
	put("audit/p/2026/11/29/21/s3-3-00000000000000000000.ndjson.gz", gz(t, `{"id":"e3"}`))
	tg = &target{id: "s3", typ: config.TypeS3, want: map[string]bool{"e1": true, "e3": true}, seen: map[string]int{}}
	ra.done = map[string]bool{}
	for range 2 {
		if err := ra.poll(ctx, dirs(evs), tg, published); err != nil {
			t.Fatal(err)
		}
	}
	got := tg.evaluate()
	want := result{Connector: "s3", Type: "s3", Expected: 2, Delivered: 2, Duplicates: 2, Earlier: 1}
	if got.Expected != want.Expected || got.Delivered != want.Delivered || got.Duplicates != want.Duplicates ||
		got.Earlier != want.Earlier || got.Unexpected != 0 || len(got.Problems) != 1 {
		t.Errorf("got %+v, want %+v with one problem (the duplicates)", got, want)
	}
	if !strings.HasPrefix(got.Example, "s3://"+bucket+"/audit/") || !strings.Contains(got.Line, `"id":"e`) {
		t.Errorf("example: got %q %q", got.Example, got.Line)
	}

	// The other connector sees its own object: e2, which its filter does
	// not match.
	b := minioConnector(t, "s3-2", bucket, "audit")
	rb, err := newS3Reader(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	tb := &target{id: "s3-2", typ: config.TypeS3, want: map[string]bool{}, seen: map[string]int{}}
	if err := rb.poll(ctx, dirs(evs), tb, published); err != nil {
		t.Fatal(err)
	}
	if r := tb.evaluate(); r.Unexpected != 1 || len(r.Problems) != 1 {
		t.Errorf("s3-2: got %+v, want 1 unexpected", r)
	}
}
