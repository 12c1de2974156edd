package produce

import (
	"bytes"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/auditstream/auditstream/bench/internal/workload"
	"github.com/auditstream/auditstream/proto/record"
)

// TestByHand checks that the by-hand side writes the records the SDK
// writes: the same key, the same contract headers, and a value that
// decodes to the same event. Otherwise the headline would compare unlike
// work.
func TestByHand(t *testing.T) {
	pool, err := workload.NewPool(50, 7, record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pool.Size() {
		ev := pool.Event(i)
		got, err := byHand(ev, "t")
		if err != nil {
			t.Fatal(err)
		}
		want, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		if got.Topic != "t" || !bytes.Equal(got.Key, want.Key) {
			t.Errorf("event %d: got topic %q key %q, want t and %q", i, got.Topic, got.Key, want.Key)
		}
		if !slices.EqualFunc(got.Headers, want.Headers, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
			t.Errorf("event %d: got headers %v, want %v", i, got.Headers, want.Headers)
		}
		dec, err := record.Decode(got)
		if err != nil {
			t.Fatalf("event %d: decode the by-hand record: %v", i, err)
		}
		if !proto.Equal(dec, ev) {
			t.Errorf("event %d: the by-hand value decodes to %v, want %v", i, dec, ev)
		}
	}
}
