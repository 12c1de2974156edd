//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// TestPublishMixedFile publishes a file of good and bad lines: exactly the
// good ones reach Kafka, the bad line numbers are reported, and the exit
// status says some lines were rejected.
func TestPublishMixedFile(t *testing.T) {
	topic := kafkatest.Topic(t, 3)
	gen := loadgen.New(loadgen.Config{Seed: 5})
	var (
		lines    []string
		goodIDs  = map[string]bool{}
		badLines []int
	)
	bad := map[int]string{
		3:  `{"projectId": "P1", "action": "UserCreated"`,                                                    // truncated JSON
		7:  `{"action": "UserCreated", "occurred": "2026-01-01T00:00:00Z"}`,                                  // no project
		10: `not json at all`,                                                                                // garbage
		15: `{"projectId": "P1", "action": "UserCreated"}`,                                                   // no occurred
		18: `{"projectId": "P1", "action": "Login", "occurred": "yesterday"}`,                                // bad timestamp
		21: `{"projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z", "tenants": ["a,b"]}`, // comma in tenant
	}
	for n := 1; n <= 30; n++ {
		if b, ok := bad[n]; ok {
			lines = append(lines, b)
			badLines = append(badLines, n)
			continue
		}
		if n == 25 {
			lines = append(lines, "") // blank lines are skipped, not rejected
			continue
		}
		ev := gen.Next()
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		goodIDs[ev.GetId()] = true
		lines = append(lines, string(b))
	}
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	args := []string{"publish", "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", topic, "--json", "--quiet", file}
	code := run(context.Background(), args, nil, &stdout, &stderr)
	if code != exitRejected {
		t.Fatalf("exit code: got %d, want %d; stderr:\n%s", code, exitRejected, stderr.String())
	}
	var sum summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
	}
	if sum.Published != int64(len(goodIDs)) || sum.Rejected != int64(len(badLines)) || sum.Failed != 0 {
		t.Errorf("summary: got published %d, rejected %d, failed %d; want %d, %d, 0", sum.Published, sum.Rejected, sum.Failed, len(goodIDs), len(badLines))
	}
	var gotLines []int
	for _, e := range sum.Errors {
		gotLines = append(gotLines, e.Line)
		if e.Reason == "" {
			t.Errorf("line %d: empty reason", e.Line)
		}
	}
	slices.Sort(gotLines)
	if !slices.Equal(gotLines, badLines) {
		t.Errorf("reported lines: got %v, want %v", gotLines, badLines)
	}

	recs := kafkatest.ReadAll(t, topic, len(goodIDs)+1, 10*time.Second)
	if len(recs) != len(goodIDs) {
		t.Fatalf("Kafka holds %d records, want exactly the %d good lines", len(recs), len(goodIDs))
	}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil || !goodIDs[ev.GetId()] {
			t.Fatalf("unexpected record in Kafka: %v %v", ev, err)
		}
	}
}
