package s3sink

import (
	"context"
	"strings"
	"testing"
)

// headLog is a HeadStore that remembers what was recorded.
type headLog struct{ got []Head }

func (l *headLog) Load(context.Context, string, int32) (Head, bool, error) { return Head{}, false, nil }
func (l *headLog) Record(_ context.Context, h Head) error                  { l.got = append(l.got, h); return nil }

// TestRecordHead: the head moves forward, never back; at the same offset
// it moves only when this writer wrote the delivery there with other bytes
// (a replay of a deleted tail with other batch boundaries), never for a
// delivery found in the bucket.
func TestRecordHead(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	old, other, otherChain := link{sha256: a, chain: a}, link{sha256: b, chain: b}, link{sha256: a, chain: b}
	tests := []struct {
		name  string
		last  int64
		head  link
		wrote bool
		want  bool // a head is recorded
	}{
		{"forward", 1508, other, true, true},
		{"forward, found", 1508, other, false, true},
		{"behind", 1000, other, true, false},
		{"same offset, same bytes", 1507, old, true, false},
		{"same offset, other bytes written", 1507, other, true, true},
		{"same offset, other chain value written", 1507, otherChain, true, true},
		{"same offset, other bytes found", 1507, other, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &headLog{}
			w := &Writer{store: store, layout: newLayout("arch", "c"), recorded: map[int32]Head{
				1: {Connector: "c", Partition: 1, Last: 1507, SHA256: a, Chain: a},
			}}
			if err := w.recordHead(t.Context(), 1, tt.last, tt.head, tt.wrote); err != nil {
				t.Fatal(err)
			}
			if got := len(store.got) == 1; got != tt.want {
				t.Fatalf("recorded %v, want %v", store.got, tt.want)
			}
			if h := w.recorded[1]; tt.want && (h.Last != tt.last || h.SHA256 != tt.head.sha256 || h.Chain != tt.head.chain) {
				t.Errorf("the writer's head is %+v, want offset %d and %+v", h, tt.last, tt.head)
			}
		})
	}
}
