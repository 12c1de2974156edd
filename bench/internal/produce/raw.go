// Package produce measures the producer SDK against raw franz-go: its
// throughput (PublishAsync) and the latency of its synchronous Publish.
package produce

import (
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rawOpts are the settings producer.New gives its client, for the raw
// franz-go baseline: both sides batch, compress and acknowledge alike, so
// that what differs is the SDK's own work.
func rawOpts(brokers []string, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RecordDeliveryTimeout(2 * time.Minute),
		kgo.ProducerBatchMaxBytes(1<<20 + 64<<10),
	}
}

// firstErr keeps the first error reported from many goroutines.
type firstErr struct {
	err   atomic.Pointer[error]
	count atomic.Int64
}

func (f *firstErr) add(err error) {
	if err == nil {
		return
	}
	f.count.Add(1)
	f.err.CompareAndSwap(nil, &err)
}

func (f *firstErr) get() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}
