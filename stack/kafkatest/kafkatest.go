// Package kafkatest gives integration tests the local stack's Kafka: the
// brokers, fresh topics, read-back helpers and broker stop/start.
//
// A test that needs Kafka fails when AUDITSTREAM_BROKERS is not set. It
// never skips: a missing service must be loud in CI, not a silent pass.
// `make test` starts the stack and sets the variable.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Brokers returns the brokers of the stack under test.
func Brokers(t testing.TB) []string {
	t.Helper()
	b := os.Getenv("AUDITSTREAM_BROKERS")
	if b == "" {
		t.Fatal("AUDITSTREAM_BROKERS is not set: integration tests need the local stack (run `make test`, or `make up` and source .stack/env)")
	}
	return strings.Split(b, ",")
}

// Client returns a client of the stack's brokers, closed when the test ends.
func Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(Brokers(t)...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Topic creates a topic with a name unique to this test run and returns it.
func Topic(t testing.TB, partitions int32) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "test." + unsafe.ReplaceAllString(t.Name(), "_") + "." + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(Client(t)).CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// ReadAll reads a topic from the start, read_committed, until it has want
// records or timeout passes, then keeps reading for a short grace period so
// that records beyond want (duplicates) are caught too. It does not fail the
// test: the caller asserts on what came back.
func ReadAll(t testing.TB, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := Client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	poll := func(ctx context.Context) int {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Logf("fetch %s[%d]: %v", topic, p, err)
			}
		})
		recs := fs.Records()
		out = append(out, recs...)
		return len(recs)
	}
	for len(out) < want && ctx.Err() == nil {
		poll(ctx)
	}
	for {
		grace, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n := poll(grace)
		cancel()
		if n == 0 {
			return out
		}
	}
}

// script is the stack's kafka.sh, found beside this package's source.
func script(t testing.TB) string {
	t.Helper()
	if s := os.Getenv("AUDITSTREAM_KAFKA_SCRIPT"); s != "" {
		return s
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate stack/kafka.sh")
	}
	return filepath.Join(filepath.Dir(file), "..", "kafka.sh")
}

// StopBroker stops the stack's Kafka broker (its data is kept).
func StopBroker(t testing.TB) { t.Helper(); runScript(t, "stop") }

// StartBroker starts the stack's Kafka broker again, on the same address.
func StartBroker(t testing.TB) { t.Helper(); runScript(t, "start") }

func runScript(t testing.TB, cmd string) {
	t.Helper()
	out, err := exec.Command("bash", script(t), cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("stack/kafka.sh %s: %v\n%s", cmd, err, out)
	}
}

// Tally compares the event ids a test expected with how many times each
// arrived: missing ids, ids that arrived more than once, and ids that
// should not have arrived at all. All three are zero for exactly once.
func Tally(want map[string]bool, got map[string]int) (missing, duplicated, unexpected int) {
	for id := range want {
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			duplicated++
		}
	}
	for id := range got {
		if !want[id] {
			unexpected++
		}
	}
	return missing, duplicated, unexpected
}
