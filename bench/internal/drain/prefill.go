package drain

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/bench/internal/workload"
)

// Prefill produces n pool records to topic as fast as franz-go can, with
// the SDK's batching settings plus opts, and returns how long it took.
func Prefill(ctx context.Context, brokers []string, pool *workload.Pool, topic string, n int, opts ...kgo.Opt) (time.Duration, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)...)
	if err != nil {
		return 0, fmt.Errorf("prefill client: %w", err)
	}
	defer cl.Close()
	var failed error
	var failures int
	start := time.Now()
	for i := range n {
		cl.Produce(ctx, pool.Record(i, topic), func(_ *kgo.Record, err error) {
			if err != nil {
				failures++ // promises are called one at a time
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("prefill %s: %w", topic, err)
	}
	if failed != nil {
		return 0, fmt.Errorf("prefill %s: %d records failed, the last: %w", topic, failures, failed)
	}
	return time.Since(start), nil
}
