//go:build integration

// The SDK's tests against the real broker. They live in the CLI's module,
// not beside producer.go, because they need stack/kafkatest: the SDK's own
// module must not require stack (or config), or every application that
// go gets the SDK would have to fetch modules that are never published.
package main_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/auditstream/auditstream/producer"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

func newProducer(t *testing.T, topic string) *producer.Producer {
	t.Helper()
	p, err := producer.New(producer.Options{Brokers: kafkatest.Brokers(t), Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// TestPublishReadBack publishes 10,000 events and reads every one back,
// unchanged, in order per key, with the contract's headers.
func TestPublishReadBack(t *testing.T) {
	const n = 10_000
	topic := kafkatest.Topic(t, 6)
	p := newProducer(t, topic)
	gen := loadgen.New(loadgen.Config{Seed: 42, Tenants: 40})
	ctx := context.Background()

	sentByKey := map[string][]string{}
	sent := map[string]*auditv1.Event{}
	var (
		mu   sync.Mutex
		errs []error
	)
	for range n {
		ev := gen.Next()
		key := string(record.Key(ev))
		sentByKey[key] = append(sentByKey[key], ev.GetId())
		sent[ev.GetId()] = ev
		p.PublishAsync(ctx, ev, func(_ *auditv1.Event, err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d publishes failed, first: %v", len(errs), errs[0])
	}

	recs := kafkatest.ReadAll(t, topic, n, 60*time.Second)
	if got := len(recs); got != n {
		t.Fatalf("read back %d records, want %d", got, n)
	}
	gotByKey := map[string][]string{}
	seen := map[string]bool{}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatalf("decode offset %d: %v", r.Offset, err)
		}
		if seen[ev.GetId()] {
			t.Fatalf("event %s read twice", ev.GetId())
		}
		seen[ev.GetId()] = true
		// The SDK reuses records and buffers: every value must still be
		// the event that was published.
		if want := sent[ev.GetId()]; !proto.Equal(ev, want) {
			t.Fatalf("offset %d: got %v, want %v", r.Offset, ev, want)
		}
		m, ok := record.MetaFromHeaders(r.Headers)
		if !ok || m.Project != ev.GetProjectId() || m.Action != ev.GetAction() || strings.Join(m.Tenants, ",") != strings.Join(ev.GetTenants(), ",") {
			t.Fatalf("headers %+v do not describe event %v", m, ev)
		}
		if got := record.HeaderValue(r.Headers, record.HeaderContentType); got != record.ContentTypeProtobuf {
			t.Fatalf("content-type: got %q, want %q", got, record.ContentTypeProtobuf)
		}
		gotByKey[string(r.Key)] = append(gotByKey[string(r.Key)], ev.GetId())
	}
	for key, want := range sentByKey {
		if got := gotByKey[key]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("key %q: order differs: got %d ids, want %d in publish order", key, len(got), len(want))
		}
	}
}

// TestBrokerStoppedDuringPublish stops the broker for 5 s while Publish
// calls are in flight. Every Publish that returned nil must have its event
// in Kafka exactly once; a Publish that returned an error is allowed either
// way (the caller was told), and the test reports how many of those landed.
func TestBrokerStoppedDuringPublish(t *testing.T) {
	topic := kafkatest.Topic(t, 3)
	p := newProducer(t, topic)
	gen := loadgen.New(loadgen.Config{Seed: 7})
	var genMu sync.Mutex
	next := func() *auditv1.Event { genMu.Lock(); defer genMu.Unlock(); return gen.Next() }

	var (
		mu      sync.Mutex
		ok      = map[string]bool{}
		failed  = map[string]error{}
		slowest time.Duration
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ev := next()
				ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
				start := time.Now()
				err := p.Publish(ctx, ev)
				took := time.Since(start)
				cancel()
				mu.Lock()
				if err != nil {
					failed[ev.GetId()] = err
				} else {
					ok[ev.GetId()] = true
				}
				slowest = max(slowest, took)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	kafkatest.StopBroker(t)
	time.Sleep(5 * time.Second)
	kafkatest.StartBroker(t)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if slowest < 4*time.Second {
		t.Fatalf("no Publish waited through the outage (slowest %v): the broker stop did not bite", slowest)
	}
	total := len(ok) + len(failed)
	recs := kafkatest.ReadAll(t, topic, total, 60*time.Second)
	inKafka := map[string]int{}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		inKafka[ev.GetId()]++
	}
	for id := range ok {
		if c := inKafka[id]; c != 1 {
			t.Errorf("event %s: Publish returned nil, but it is in Kafka %d times", id, c)
		}
	}
	landed := 0
	for id := range failed {
		landed += min(inKafka[id], 1)
	}
	t.Logf("published %d ok, %d with an error (%d of those landed anyway); slowest Publish %v", len(ok), len(failed), landed, slowest)
	if len(ok) == 0 {
		t.Fatal("no Publish succeeded")
	}
}

// TestKcatPublishes checks that a client we did not write, kcat
// (librdkafka), can publish protojson events that our consumer reads: with
// the content-type header, and without any header at all.
func TestKcatPublishes(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (Debian package kcat); `make test` installs it")
	}
	topic := kafkatest.Topic(t, 3)
	gen := loadgen.New(loadgen.Config{Seed: 9})
	want := map[string]bool{}
	var lines []string
	for range 200 {
		ev := gen.Next()
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		want[ev.GetId()] = true
		lines = append(lines, string(b))
	}
	brokers := strings.Join(kafkatest.Brokers(t), ",")
	for i, args := range [][]string{
		{"-H", "content-type=application/json"},
		{}, // no header: the value is detected as JSON
	} {
		half := lines[i*100 : (i+1)*100]
		cmd := exec.Command(kcat, append([]string{"-P", "-b", brokers, "-t", topic}, args...)...)
		cmd.Stdin = strings.NewReader(strings.Join(half, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
	}
	recs := kafkatest.ReadAll(t, topic, len(want), 30*time.Second)
	if len(recs) != len(want) {
		t.Fatalf("read %d records, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatalf("decode a kcat record: %v", err)
		}
		if err := record.Validate(ev); err != nil {
			t.Fatalf("kcat event invalid: %v", err)
		}
		if !want[ev.GetId()] {
			t.Fatalf("unexpected event %s", ev.GetId())
		}
		delete(want, ev.GetId())
	}
	if len(want) != 0 {
		t.Fatalf("%d kcat events not read back", len(want))
	}
}

// TestPublishValidation checks that an invalid event never reaches Kafka and
// fails with a typed error.
func TestPublishValidation(t *testing.T) {
	topic := kafkatest.Topic(t, 1)
	p := newProducer(t, topic)
	err := p.Publish(context.Background(), &auditv1.Event{Action: "UserCreated"})
	var fe *record.FieldError
	if !errors.As(err, &fe) || fe.Field != "projectId" || !errors.Is(err, producer.ErrInvalid) {
		t.Fatalf("got %v, want a FieldError on projectId matching ErrInvalid", err)
	}
	if got := kafkatest.ReadAll(t, topic, 1, 3*time.Second); len(got) != 0 {
		t.Fatalf("an invalid event reached Kafka: %d records", len(got))
	}
}

// TestDurability reads what the brokers say about a topic's replication:
// the local stack's default topic passes with two warnings, a topic whose
// min.insync.replicas is above its replication factor is refused, and a
// missing topic is an error.
func TestDurability(t *testing.T) {
	ctx := context.Background()
	weak := kafkatest.Topic(t, 2)
	impossible := weak + ".isr2"
	resp, err := kadm.NewClient(kafkatest.Client(t)).CreateTopic(ctx, 1, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, impossible)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", impossible, err)
	}

	tests := []struct {
		topic    string
		want     producer.Durability
		warnings int
		err      string
	}{
		{topic: weak, want: producer.Durability{Topic: weak, ReplicationFactor: 1, MinInsyncReplicas: 1}, warnings: 2},
		{topic: impossible, want: producer.Durability{Topic: impossible, ReplicationFactor: 1, MinInsyncReplicas: 2}, err: "min.insync.replicas 2 is above its replication factor 1"},
		{topic: weak + ".missing", want: producer.Durability{Topic: weak + ".missing"}, err: "UNKNOWN_TOPIC_OR_PARTITION"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			got, err := newProducer(t, tt.topic).Durability(ctx)
			var warnings []string
			if err == nil {
				warnings, err = got.Check()
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got error %v, want %q", err, tt.err)
			}
			if len(warnings) != tt.warnings {
				t.Errorf("got warnings %q, want %d", warnings, tt.warnings)
			}
		})
	}
}
