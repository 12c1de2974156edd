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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// TestReplayCountsAbortedRecordsAsMissing reproduces what make chaos found
// (seed 2026): a connector topic's records of an aborted transaction (a
// router rebalance aborts one at nearly every start with two routers) are
// reported by `auditctl replay` of an S3 connector as "missing from the
// bucket, written again", and, with archived deliveries after them, the
// replay is refused unless --allow-overlap. No reader ever gets those
// records (read_committed), so nothing is missing: the plan must not list
// them.
func TestReplayCountsAbortedRecordsAsMissing(t *testing.T) {
	env, err := readStackEnv()
	if err != nil {
		t.Fatalf("this test needs the local stack: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := t.TempDir()
	for _, cmd := range []string{"router/cmd/router", "sinks/cmd/sink", "sinks/cmd/auditctl"} {
		out, err := exec.CommandContext(ctx, "go", "build", "-tags", "goccy_gojson", "-o", bin,
			"github.com/auditstream/auditstream/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v: %s", cmd, err, out)
		}
	}
	run := fmt.Sprintf("replaybug%d", time.Now().UnixNano()%1_000_000_000)
	cs := []connector{{run + "-s3", "s3", map[string]any{}}}
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := writePipeline(cfg, run, run, env, "http://127.0.0.1:1", cs); err != nil {
		t.Fatal(err)
	}
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
	topic := run + ".connector." + cs[0].id

	// Partition 0: a transaction of 10 events, aborted (offsets 0-9, its
	// marker at 10), then one of 10 events, committed (11-20, marker 21).
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.brokers...), kgo.TransactionalID(run), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n, commit := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			ev := &auditv1.Event{Id: fmt.Sprintf("ev-%d-%d", n, i), ProjectId: "P001", Action: "LoginSucceed", Type: "info",
				Tenants: []string{"T0001"}, Occurred: timestamppb.Now()}
			v, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			r := &kgo.Record{Partition: 0, Value: v, Headers: []kgo.RecordHeader{
				{Key: record.HeaderContentType, Value: []byte(record.ContentTypeProtobuf)},
				{Key: record.HeaderProject, Value: []byte("P001")}, {Key: record.HeaderAction, Value: []byte("LoginSucceed")},
				{Key: record.HeaderTenant, Value: []byte("T0001")}}}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	// The sink archives the committed ten and commits past them.
	sink := exec.Command(filepath.Join(bin, "sink"), "run", "--config", cfg, "--connector", cs[0].id)
	var sinkLog strings.Builder
	sink.Stdout, sink.Stderr = &sinkLog, &sinkLog
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	group := "auditstream-sink-" + cs[0].id
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			if o, ok := offs.Lookup(topic, 0); ok && o.At >= 21 {
				break
			}
		}
		if ctx.Err() != nil {
			_ = sink.Process.Kill()
			t.Fatalf("the sink did not commit past offset 20: %s", sinkLog.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	_ = sink.Process.Signal(os.Interrupt)
	_ = sink.Wait()

	out, err := exec.CommandContext(ctx, filepath.Join(bin, "auditctl"), "replay", "--config", cfg,
		"--connector", cs[0].id, "--from", "earliest", "--dry-run").CombinedOutput()
	t.Logf("auditctl replay --dry-run: %v\n%s", err, out)
	if strings.Contains(string(out), "missing from the bucket") || strings.Contains(string(out), "refused") {
		t.Errorf("got a plan that finds the aborted records 0-9 missing from the bucket, want nothing missing (every committed record is archived)")
	}
}
