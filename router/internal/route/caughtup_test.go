package route

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCaughtUp: a poll is caught up when each partition it holds was read
// to its high watermark and the client buffers nothing more; a transaction
// that began behind ends then, not at its interval.
func TestCaughtUp(t *testing.T) {
	part := func(p int32, last, hwm int64) kgo.FetchPartition {
		return kgo.FetchPartition{Partition: p, HighWatermark: hwm, Records: []*kgo.Record{{Offset: last - 1}, {Offset: last}}}
	}
	poll := func(ps ...kgo.FetchPartition) kgo.Fetches {
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "audit.events", Partitions: ps}}}}
	}
	tests := []struct {
		name     string
		buffered int64
		fs       kgo.Fetches
		want     bool
	}{
		{"every partition at its high watermark", 0, poll(part(0, 9, 10), part(1, 99, 100)), true},
		{"one partition behind", 0, poll(part(0, 9, 10), part(1, 50, 100)), false},
		{"more records buffered", 3, poll(part(0, 9, 10)), false},
		{"a transaction marker after the last record", 0, poll(part(0, 9, 11)), false},
		{"a partition with no records (an error or an empty fetch)", 0, poll(kgo.FetchPartition{Partition: 2, HighWatermark: 5}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := caughtUp(tt.buffered, tt.fs); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
