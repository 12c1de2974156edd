package sink

// Tests of the split between intake, which checks a record and holds its
// value, and flush, which decodes it when its batch is written.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/redact"
)

// fullDecode is what the intake checked before it only scanned protobuf
// values: decode, validate, filter. check must give the same verdict.
func fullDecode(d decoder, rec *kgo.Record) string {
	ev, err := record.Decode(rec)
	if err == nil {
		err = record.Validate(ev)
	}
	if err != nil {
		return record.Reason(err)
	}
	if !d.filter.Match(record.MetaOf(ev)) {
		return record.ReasonFilterMismatch
	}
	return ""
}

// TestCheckHoldsValues: the intake holds a value, protobuf or JSON, as it is
// (its size is what the budget counts), dead-letters with the same reason
// as a full decode would, and the event decoded at flush is the full
// decode's, redacted.
func TestCheckHoldsValues(t *testing.T) {
	rule, err := filter.New(config.Filter{Tenants: config.Patterns{Exclude: []string{"evil"}}})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := redact.New(config.Redaction{Mask: []string{"remoteAddress"}})
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{filter: rule, redact: rules, unmarshal: record.Unmarshal}
	g := loadgen.New(loadgen.Config{Seed: 3})
	marshal := func(ev *auditv1.Event, enc record.Encoding) *kgo.Record {
		r, err := record.Marshal(ev, enc)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	withTenant := func(tenant string) *auditv1.Event {
		ev := g.Next()
		ev.Tenants = []string{tenant}
		return ev
	}
	noProject := g.Next()
	noProject.ProjectId = ""
	noHeaders := marshal(g.Next(), record.Protobuf)
	noHeaders.Headers = nil
	jsonNoHeaders := marshal(g.Next(), record.JSON)
	jsonNoHeaders.Headers = nil
	textPlain := marshal(g.Next(), record.JSON)
	textPlain.Headers = []kgo.RecordHeader{{Key: record.HeaderContentType, Value: []byte("text/plain")}}
	tests := []struct {
		name       string
		rec        *kgo.Record
		wantReason string
		wantValue  bool // held as the record's own value
	}{
		{"protobuf", marshal(g.Next(), record.Protobuf), "", true},
		{"protobuf without headers", noHeaders, "", true},
		{"json", marshal(g.Next(), record.JSON), "", true},
		{"json without headers", jsonNoHeaders, "", true},
		{"unknown content type", textPlain, fullDecode(d, textPlain), false},
		{"protobuf garbage", &kgo.Record{Value: []byte{0x0a, 0xff}}, record.ReasonMalformedProtobuf, false},
		{"protobuf invalid", marshal(noProject, record.Protobuf), fullDecode(d, marshal(noProject, record.Protobuf)), false},
		{"json invalid", marshal(noProject, record.JSON), fullDecode(d, marshal(noProject, record.JSON)), false},
		{"protobuf filtered out", marshal(withTenant("evil"), record.Protobuf), record.ReasonFilterMismatch, false},
		{"json filtered out", marshal(withTenant("evil"), record.JSON), record.ReasonFilterMismatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rec.Offset = 7
			it, reason, err := d.check(tt.rec)
			if reason != tt.wantReason || (err != nil) != (reason != "") {
				t.Fatalf("check: got reason %q (err %v), want %q", reason, err, tt.wantReason)
			}
			if want := fullDecode(d, tt.rec); reason != want {
				t.Errorf("check: got reason %q, a full decode says %q", reason, want)
			}
			if reason != "" {
				return
			}
			if it.Offset != 7 || it.Size != len(tt.rec.Value) {
				t.Errorf("item: got offset %d size %d, want 7 and %d", it.Offset, it.Size, len(tt.rec.Value))
			}
			if it.Event != nil {
				t.Errorf("item holds a decoded event; want only its value")
			}
			if got := bytes.Equal(it.Value, tt.rec.Value); got != tt.wantValue {
				t.Errorf("item holds the record's own value: got %v, want %v", got, tt.wantValue)
			}
			ev, reason, err := d.event(&it)
			if err != nil {
				t.Fatalf("event: %s: %v", reason, err)
			}
			want, _ := record.Decode(tt.rec)
			d.redact.Apply(want)
			if !proto.Equal(ev, want) {
				t.Errorf("event: got %v, want %v", ev, want)
			}
			if got := ev.GetRemoteAddress(); got != "***" && got != "" {
				t.Errorf("remoteAddress: got %q, want it masked", got)
			}
		})
	}
}

// TestValueThatFailsAtFlushIsDeadLettered: a value the intake accepted but
// that does not decode when its batch is written (check and decode
// disagree) goes to the DLQ with its reason; the rest is delivered once,
// and every partition is committed to its end.
func TestValueThatFailsAtFlushIsDeadLettered(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 50, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	ids := e.produce(300, 21)
	var bad []byte
	for id := range ids {
		bad = []byte(id)
		delete(ids, id)
		break
	}
	unmarshal := func(v []byte, contentType string) (*auditv1.Event, error) {
		if bytes.Contains(v, bad) {
			return nil, &record.DecodeError{Format: "protobuf", Err: errors.New("injected")}
		}
		return record.Unmarshal(v, contentType)
	}
	w := newFakeWriter()
	_, stop := e.run(w, Options{unmarshal: unmarshal})
	waitUntil(t, "delivery", 20*time.Second, func() bool { return w.count() == len(ids) })
	waitUntil(t, "commits", 10*time.Second, func() bool {
		got := e.committed()
		for p, end := range e.ends(topic) {
			if got[p] != end {
				return false
			}
		}
		return true
	})
	stop()
	checkExactlyOnce(t, w, ids)
	dl := readAll(t, e.cl, "audit.dlq", 1)
	if got := record.HeaderValue(dl[0].Headers, record.HeaderDLQReason); got != record.ReasonMalformedProtobuf {
		t.Errorf("dlq-reason: got %q, want %q", got, record.ReasonMalformedProtobuf)
	}
	if ev, err := record.Decode(dl[0]); err != nil || ev.GetId() != string(bad) {
		t.Errorf("dead letter: got event %q (%v), want %s", ev.GetId(), err, bad)
	}
}

// TestBatchesFillUnderTheDefaultBuffer: draining a backlog of six
// partitions of ~650-byte events with the S3 defaults (max_events 10,000
// and the default buffer), every batch but a partition's last is full,
// although the partitions' batches together outgrow the buffer: a
// partition below its share of the budget waits for room rather than
// write a short batch.
func TestBatchesFillUnderTheDefaultBuffer(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 10_000, MaxBytes: 16 << 20, MaxAge: config.Duration(3 * time.Second)})
	ctx := context.Background()
	const partitions, perPartition = 6, 15_000
	if _, err := kadm.NewClient(e.cl).CreatePartitions(ctx, partitions-3, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g := loadgen.New(loadgen.Config{Seed: 23, PadTo: 650})
	ids := map[string]bool{}
	var produceErr error
	var produceMu sync.Mutex
	promise := func(_ *kgo.Record, err error) {
		produceMu.Lock()
		produceErr = cmp.Or(produceErr, err)
		produceMu.Unlock()
	}
	for range perPartition {
		recs := make([]*kgo.Record, partitions)
		for p := range recs {
			ev := g.Next()
			if recs[p], err = record.Marshal(ev, record.Protobuf); err != nil {
				t.Fatal(err)
			}
			recs[p].Topic, recs[p].Partition = topic, int32(p)
			ids[ev.GetId()] = true
		}
		for _, r := range recs {
			cl.Produce(ctx, r, promise)
		}
	}
	if err := cmp.Or(cl.Flush(ctx), produceErr); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sizes := map[int32][]int{}
	w := slowWriter(100 * time.Millisecond)
	slow := w.fail
	w.fail = func(b *batch.Batch, attempt int) (Result, error) {
		mu.Lock()
		sizes[b.Partition] = append(sizes[b.Partition], b.Len())
		mu.Unlock()
		return slow(b, attempt)
	}
	_, stop := e.run(w, Options{})
	waitUntil(t, "delivery", 60*time.Second, func() bool { return w.count() == len(ids) })
	stop()
	checkExactlyOnce(t, w, ids)
	mu.Lock()
	defer mu.Unlock()
	for p, ss := range sizes {
		if want := []int{10_000, perPartition - 10_000}; !slices.Equal(ss, want) {
			t.Errorf("partition %d: got batches of %v events, want %v", p, ss, want)
		}
	}
}
