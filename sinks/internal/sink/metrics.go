package sink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the runtime's Prometheus series; writers add their own.
type metrics struct {
	records     prometheus.Counter
	delivered   prometheus.Counter
	dlq         *prometheus.CounterVec
	retries     *prometheus.CounterVec
	batchAge    prometheus.Histogram
	batchEvents prometheus.Histogram
	batchBytes  prometheus.Histogram
	writeTime   prometheus.Histogram
	lag         *prometheus.GaugeVec
	lastWrite   prometheus.Gauge
	paused      prometheus.Gauge
	// filterMismatch counts events the connector's filter rejects: a
	// router bug or a record written past the router. Alert on any.
	filterMismatch prometheus.Counter
	// expired counts records deleted from Kafka (retention) before the
	// sink delivered them, by partition: loss. Alert on any.
	expired *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, connector string) *metrics {
	f := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"connector": connector}, reg))
	return &metrics{
		records: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_sink_records_total", Help: "Records read from the connector topic.",
		}),
		delivered: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_sink_delivered_total", Help: "Events durably delivered and committed.",
		}),
		dlq: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_sink_dlq_total", Help: "Records sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_sink_retries_total", Help: "Attempts (writes, dead letters, commits, offset fetches) that failed and will be retried, by reason.",
		}, []string{"reason"}),
		batchAge: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_sink_batch_age_seconds", Help: "Age of a batch's oldest record when the batch is flushed.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		batchEvents: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_sink_batch_events", Help: "Events per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		batchBytes: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_sink_batch_bytes", Help: "Bytes (record values) per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9),
		}),
		writeTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_sink_write_seconds", Help: "Time to write a batch, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "auditstream_sink_lag", Help: "Offsets between the end of the partition's readable log (its last stable offset) and what the sink has delivered, by partition; 0 when caught up.",
		}, []string{"partition"}),
		lastWrite: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_sink_last_write_timestamp_seconds", Help: "When a batch was last durably written.",
		}),
		paused: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_sink_paused_partitions", Help: "Partitions whose fetching is paused because their buffer is full (backpressure).",
		}),
		filterMismatch: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_sink_filter_mismatch_total",
			Help: "Events the connector's filter rejects, dead-lettered as filter_mismatch: a router bug, or a record written past the router.",
		}),
		expired: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_sink_expired_records_total",
			Help: "Records deleted from Kafka by retention before the sink delivered them (the committed offset was below the log start offset), by partition: lost to the destination.",
		}, []string{"partition"}),
	}
}
