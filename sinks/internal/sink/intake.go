package sink

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pauser pauses and resumes the fetching of partitions (a *kgo.Client).
type pauser interface {
	PauseFetchPartitions(map[string][]int32) map[string][]int32
	ResumeFetchPartitions(map[string][]int32)
}

// intake is one partition's queue between the poll loop, which pushes what
// it fetched, and the partition's worker, which takes records as it has
// room for them. It owns the partition's backpressure: when the queue
// outgrows its limit, the partition's fetching pauses, and it resumes once
// the worker has taken half of it.
//
// franz-go keeps a pause across rebalances: a partition paused here,
// revoked, and assigned again later would never be fetched again. So an
// intake is closed when its partition leaves, and closing resumes it.
type intake struct {
	client    pauser
	topic     string
	partition int32
	limit     int              // queued bytes at which fetching pauses
	paused    prometheus.Gauge // the connector's paused partitions

	wake chan struct{} // signalled when records arrive, or the worker must look again

	mu       sync.Mutex
	queue    []*kgo.Record
	queued   int   // bytes of record values in queue
	end      int64 // the partition's last stable offset at the latest fetch, or -1
	isPaused bool
	closed   bool
}

func newIntake(client pauser, topic string, partition int32, limit int, paused prometheus.Gauge) *intake {
	return &intake{client: client, topic: topic, partition: partition, limit: limit, paused: paused,
		wake: make(chan struct{}, 1), end: -1}
}

// push queues records from a poll, and end, the offset the partition's
// readable log ends at. It pauses the partition when the queue is full.
func (in *intake) push(recs []*kgo.Record, end int64) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.end = max(in.end, end)
	in.queue = append(in.queue, recs...)
	for _, r := range recs {
		in.queued += len(r.Value)
	}
	if in.queued >= in.limit && !in.isPaused {
		in.isPaused = true
		in.client.PauseFetchPartitions(map[string][]int32{in.topic: {in.partition}})
		in.paused.Inc()
	}
	in.mu.Unlock()
	in.notify()
}

// take hands the worker queued records, in order, for as long as accept
// takes them. It resumes the partition once the queue is half empty, and
// returns the end of the readable log and whether records stay queued.
func (in *intake) take(accept func(*kgo.Record) bool) (recs []*kgo.Record, end int64, more bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for n < len(in.queue) && accept(in.queue[n]) {
		in.queued -= len(in.queue[n].Value)
		n++
	}
	recs = in.queue[:n:n]
	in.queue = in.queue[n:]
	if in.isPaused && in.queued < in.limit/2 {
		in.resumeLocked()
	}
	return recs, in.end, len(in.queue) > 0
}

// close forgets the queue and resumes the partition if it was paused, so
// that it is fetched again if it comes back to this member.
func (in *intake) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	in.queue, in.queued = nil, 0
	if in.isPaused {
		in.resumeLocked()
	}
}

func (in *intake) resumeLocked() {
	in.isPaused = false
	in.client.ResumeFetchPartitions(map[string][]int32{in.topic: {in.partition}})
	in.paused.Dec()
}

// notify wakes the worker.
func (in *intake) notify() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}
