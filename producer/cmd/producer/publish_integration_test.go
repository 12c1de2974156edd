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

// publishLines writes lines to a file and publishes it to topic with args.
func publishLines(t *testing.T, lines []string, args ...string) (code int, sum summary, stderr string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, errb bytes.Buffer
	args = append(append([]string{"publish", "--json", "--quiet"}, args...), file)
	code = run(context.Background(), args, nil, &stdout, &errb)
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), errb.String())
	}
	return code, sum, errb.String()
}

// misspelt is an event whose tenant field is misspelt: "tenant" for
// "tenants". Published as is, it would be a tenantless event.
const misspelt = `{"id": "misspelt-1", "projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z", "tenant": "acme"}`

// TestPublishRefusesUnknownFields: a line with a field the schema does not
// know is rejected, and the error names the field and the line; the lines
// around it, in camelCase and snake_case, are published.
func TestPublishRefusesUnknownFields(t *testing.T) {
	topic := kafkatest.Topic(t, 1)
	lines := []string{
		`{"id": "camel-1", "projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z", "tenants": ["acme"]}`,
		misspelt,
		`{"id": "snake-1", "project_id": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z", "tenants": ["acme"], "actor_id": "u1"}`,
	}
	code, sum, stderr := publishLines(t, lines, "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", topic)
	if code != exitRejected {
		t.Errorf("exit code: got %d, want %d; stderr:\n%s", code, exitRejected, stderr)
	}
	if sum.Published != 2 || sum.Rejected != 1 || len(sum.Errors) != 1 {
		t.Fatalf("summary: got %+v, want 2 published and line 2 rejected", sum)
	}
	if e := sum.Errors[0]; e.Line != 2 || !strings.Contains(e.Reason, `"tenant"`) || !strings.Contains(e.Reason, "--allow-unknown-fields") {
		t.Errorf("line error: got %+v, want line 2 naming \"tenant\" and --allow-unknown-fields", e)
	}
	recs := kafkatest.ReadAll(t, topic, 3, 5*time.Second)
	var got []string
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.GetId())
	}
	slices.Sort(got)
	if want := []string{"camel-1", "snake-1"}; !slices.Equal(got, want) {
		t.Errorf("ids in Kafka: got %v, want %v", got, want)
	}
}

// TestPublishAllowUnknownFields: with --allow-unknown-fields the same line
// is published, without the unknown field.
func TestPublishAllowUnknownFields(t *testing.T) {
	topic := kafkatest.Topic(t, 1)
	code, sum, stderr := publishLines(t, []string{misspelt}, "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", topic, "--allow-unknown-fields")
	if code != exitOK || sum.Published != 1 {
		t.Fatalf("got exit %d, summary %+v; want 0 and 1 published; stderr:\n%s", code, sum, stderr)
	}
	recs := kafkatest.ReadAll(t, topic, 2, 5*time.Second)
	if len(recs) != 1 {
		t.Fatalf("Kafka holds %d records, want 1", len(recs))
	}
	ev, err := record.Decode(recs[0])
	if err != nil || ev.GetId() != "misspelt-1" || len(ev.GetTenants()) != 0 {
		t.Errorf("got %v (%v), want misspelt-1 without tenants", ev, err)
	}
}

// TestPublishFindsLocalStack: with AUDITSTREAM_BROKERS unset and no
// --brokers, a run inside a checkout whose .stack/env names the running
// broker publishes there, and says so.
func TestPublishFindsLocalStack(t *testing.T) {
	topic := kafkatest.Topic(t, 1)
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	root := t.TempDir()
	env := writeStackEnv(t, root, brokers)
	t.Chdir(root)
	t.Setenv("AUDITSTREAM_BROKERS", "")
	line := `{"id": "found-1", "projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z"}`
	code, sum, stderr := publishLines(t, []string{line}, "--topic", topic)
	if code != exitOK || sum.Published != 1 {
		t.Fatalf("got exit %d, summary %+v; want 0 and 1 published; stderr:\n%s", code, sum, stderr)
	}
	if !strings.Contains(stderr, env) || !strings.Contains(stderr, brokers) {
		t.Errorf("stderr does not say it used %s from %s:\n%s", brokers, env, stderr)
	}
	t.Setenv("AUDITSTREAM_BROKERS", brokers) // for kafkatest
	if recs := kafkatest.ReadAll(t, topic, 2, 5*time.Second); len(recs) != 1 {
		t.Errorf("Kafka holds %d records, want 1", len(recs))
	}
}

// TestGenerateDurationLosesNothing: the events in flight when --duration
// ends are delivered, not failed with the deadline, and each one counted
// as published is in Kafka.
func TestGenerateDurationLosesNothing(t *testing.T) {
	topic := kafkatest.Topic(t, 3)
	var stdout, stderr bytes.Buffer
	args := []string{"generate", "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", topic, "--duration", "1s", "--rate", "5000", "--json", "--quiet"}
	code := run(context.Background(), args, nil, &stdout, &stderr)
	var sum summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if code != exitOK || sum.Failed != 0 || sum.Published == 0 {
		t.Fatalf("got exit %d, summary %+v; want 0 and nothing failed; stderr:\n%s", code, sum, stderr.String())
	}
	if recs := kafkatest.ReadAll(t, topic, int(sum.Published)+1, 5*time.Second); len(recs) != int(sum.Published) {
		t.Errorf("Kafka holds %d records, want the %d published", len(recs), sum.Published)
	}
}

// TestPublishMissingTopic: a topic that does not exist (the router creates
// them; the stack does not auto-create) stops the run before any line, with
// a message naming it, instead of one failure per line.
func TestPublishMissingTopic(t *testing.T) {
	topic := "audit.missing." + strings.ReplaceAll(t.Name(), "/", ".") + "." + time.Now().Format("150405.000000")
	var stdout, stderr bytes.Buffer
	args := []string{"publish", "--brokers", strings.Join(kafkatest.Brokers(t), ","), "--topic", topic, "--quiet"}
	start := time.Now()
	code := run(context.Background(), args, strings.NewReader(strings.Repeat(`{"projectId": "P1", "action": "Login", "occurred": "2026-01-01T00:00:00Z"}`+"\n", 3)), &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), topic) || strings.Contains(stderr.String(), "line ") {
		t.Errorf("got exit %d, stderr:\n%s\nwant exit %d and one message naming %s", code, stderr.String(), exitUsage, topic)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v, want < 10s", took)
	}
}
