//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// TestRedeliveryOfALargerDeliveryStalls reproduces what make chaos found
// (seed 79, default run): after `auditctl replay --from earliest` of an S3
// connector, its sinks retried forever ("adopting an earlier writer's
// delivery through offset 5174: destination holds a delivery through offset
// 5174; the batch must grow to it, but the batch holds every record through
// it that this build delivers") and the connector never drained. An archived
// delivery held more records than a batch may (max_events 5000); the
// worker had read past its end, took that for "the batch holds every
// record", and the batch, capped at max_events, could never grow to it.
//
// Here: 6000 records archived in one delivery (max_events 10000), the
// group rewound, and the sink started again with max_events 5000. Every
// record is archived already: the sink must skip to the end and commit.
func TestRedeliveryOfALargerDeliveryStalls(t *testing.T) {
	env, err := readStackEnv()
	if err != nil {
		t.Fatalf("this test needs the local stack: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := t.TempDir()
	for _, cmd := range []string{"router/cmd/router", "sinks/cmd/sink", "sinks/cmd/auditctl"} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "goccy_gojson", "-o", bin,
			"github.com/auditstream/auditstream/"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", cmd, err, out)
		}
	}
	run := fmt.Sprintf("redeliver%d", time.Now().UnixNano()%1_000_000_000)
	id := run + "-s3"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pipeline.yaml")
	if err := writePipeline(cfg, run, run, env, "http://127.0.0.1:1", []connector{{id, "s3", map[string]any{}}}); err != nil {
		t.Fatal(err)
	}
	// The same pipeline with another batch limit.
	withMaxEvents := func(n int) string {
		b, _ := os.ReadFile(cfg)
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		c := doc["connectors"].([]any)[0].(map[string]any)
		c["batch"] = map[string]any{"max_events": n, "max_bytes": "64MiB", "max_age": "2s"}
		out, _ := yaml.Marshal(doc)
		path := filepath.Join(dir, fmt.Sprintf("pipeline-%d.yaml", n))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	big, small := withMaxEvents(10000), withMaxEvents(5000)
	s3c, err := s3Client(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(run)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "router"), "setup", "--config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("router setup: %v: %s", err, out)
	}
	topic := run + ".connector." + id

	// 6000 records on partition 0, in one committed transaction (6000 is
	// its marker).
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.brokers...), kgo.TransactionalID(run), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 6000 {
		v, err := proto.Marshal(&auditv1.Event{Id: fmt.Sprintf("ev-%d", i), ProjectId: "P001", Action: "LoginSucceed",
			Type: "info", Tenants: []string{"T0001"}, Occurred: timestamppb.Now()})
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Partition: 0, Value: v, Headers: []kgo.RecordHeader{
			{Key: record.HeaderContentType, Value: []byte(record.ContentTypeProtobuf)}}}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	group := "auditstream-sink-" + id
	deliver := func(cfg string, limit time.Duration) (bool, string) {
		sink := exec.Command(filepath.Join(bin, "sink"), "run", "--config", cfg, "--connector", id)
		var log strings.Builder
		sink.Stdout, sink.Stderr = &log, &log
		if err := sink.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sink.Process.Signal(os.Interrupt); _ = sink.Wait() }()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			offs, err := adm.FetchOffsets(ctx, group)
			if err == nil {
				if o, ok := offs.Lookup(topic, 0); ok && o.At >= 6000 {
					return true, log.String()
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		return false, log.String()
	}
	if ok, log := deliver(big, 90*time.Second); !ok {
		t.Fatalf("the sink (max_events 10000) did not archive the 6000 records: %s", log)
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "auditctl"), "replay", "--config", big,
		"--connector", id, "--from", "earliest", "--yes", "--wait").CombinedOutput(); err != nil {
		t.Fatalf("auditctl replay: %v: %s", err, out)
	}
	if ok, log := deliver(small, 60*time.Second); !ok {
		if i := strings.Index(log, "the batch must grow"); i >= 0 {
			log = log[max(0, i-300):min(len(log), i+300)]
		}
		t.Errorf("got the sink (max_events 5000) stuck after the replay, want it past the archived delivery of 6000 records; its log:\n%s", log)
	}
}
