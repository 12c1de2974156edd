//go:build integration

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

var sinkBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sink-test")
	if err != nil {
		panic(err)
	}
	sinkBin = filepath.Join(dir, "sink")
	if out, err := exec.Command("go", "build", "-o", sinkBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sink: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: this test needs the local stack (make test)", name)
	}
	return v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestS3SinkKilledMidBatch: 50,000 events through the sink binary into
// MinIO while the sink is killed with SIGKILL three times mid-stream.
// Every event id lands in exactly one object, and verify finds the hash
// chain and the manifests intact.
func TestS3SinkKilledMidBatch(t *testing.T) {
	endpoint := env(t, "AUDITSTREAM_S3_ENDPOINT")
	akFile, skFile := env(t, "AUDITSTREAM_S3_ACCESS_KEY_FILE"), env(t, "AUDITSTREAM_S3_SECRET_KEY_FILE")
	ctx := context.Background()

	// The connector topic, named by a unique prefix.
	base := kafkatest.Topic(t, 1)
	prefix := base + ".c."
	topic := prefix + "arch"
	adm := kadm.NewClient(kafkatest.Client(t))
	if resp, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}

	// A fresh bucket.
	bucket := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	s3c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(readFile(t, akFile), readFile(t, skFile), ""),
	})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	pipeline := fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {dlq: {name: %s.dlq, partitions: 1}, connector_prefix: %s}
connectors:
  - id: arch
    type: s3
    listen: 127.0.0.1:0
    batch: {max_events: 2000, max_bytes: 4MiB, max_age: 1s}
    s3:
      bucket: %s
      prefix: e2e
      endpoint: %s
      path_style: true
      credentials: {source: static, access_key_id: {file: %s}, secret_access_key: {file: %s}}
`, strings.Join(kafkatest.Brokers(t), ","), base, prefix, bucket, endpoint, akFile, skFile)
	if err := os.WriteFile(cfg, []byte(pipeline), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func() *exec.Cmd {
		cmd := exec.Command(sinkBin, "run", "--config", cfg, "--connector", "arch")
		var logBuf bytes.Buffer
		cmd.Stderr = &logBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}

	// Publish in slices while the sink runs, killing it three times.
	gen := loadgen.New(loadgen.Config{Seed: 11})
	want := map[string]bool{}
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(topic))
	publish := func(n int) {
		var recs []*kgo.Record
		for range n {
			ev := gen.Next()
			want[ev.GetId()] = true
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sink := start()
	for kill := 1; kill <= 3; kill++ {
		publish(12_500)
		time.Sleep(time.Duration(1500+kill*400) * time.Millisecond)
		_ = sink.Process.Kill()
		_ = sink.Wait()
		t.Logf("SIGKILL %d", kill)
		sink = start()
	}
	publish(12_500)

	// Wait until the group has committed everything.
	deadline := time.Now().Add(120 * time.Second)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		got, err := adm.FetchOffsets(ctx, "auditstream-sink-arch")
		if err != nil {
			t.Fatal(err)
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if c, ok := got.Lookup(topic, o.Partition); !ok || c.At < o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not commit every partition to its end within 120 s")
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every id in exactly one object.
	seen := map[string]int{}
	var token *string
	objects := 0
	for {
		page, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("e2e/"), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasSuffix(key, ".ndjson.gz") {
				continue
			}
			objects++
			obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(obj.Body)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(make([]byte, 1<<20), 4<<20)
			for sc.Scan() {
				var ev auditv1.Event
				if err := protojson.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				seen[ev.GetId()]++
				if !strings.Contains(key, "/"+ev.GetProjectId()+"/"+ev.GetOccurred().AsTime().UTC().Format("2006/01/02/15")+"/") {
					t.Fatalf("event %s is in %s, not under its project and hour", ev.GetId(), key)
				}
			}
			obj.Body.Close()
		}
		if page.NextContinuationToken == nil {
			break
		}
		token = page.NextContinuationToken
	}
	missing, dup, extra := kafkatest.Tally(want, seen)
	if missing+dup+extra > 0 {
		t.Fatalf("%d events in %d objects: %d missing, %d duplicated, %d unexpected", len(seen), objects, missing, dup, extra)
	}
	t.Logf("all %d events exactly once in %d objects after 3 SIGKILLs", len(want), objects)

	out, err := exec.Command(sinkBin, "verify", "--config", cfg, "--connector", "arch").Output()
	if err != nil {
		t.Fatalf("sink verify: %v\n%s", err, out)
	}
	var rep struct {
		Events   int `json:"events"`
		Problems int `json:"problems"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Problems != 0 || rep.Events != len(want) {
		t.Fatalf("verify: %d events, %d problems (%v); want %d and 0:\n%s", rep.Events, rep.Problems, err, len(want), out)
	}
}
