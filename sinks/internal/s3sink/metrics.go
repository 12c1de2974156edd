package s3sink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the writer's own; the runtime counts batches, lag and
// retries.
type metrics struct {
	objects   prometheus.Counter
	bytes     prometheus.Counter
	events    prometheus.Counter
	putTime   prometheus.Histogram
	adoptions prometheus.Counter
	restored  prometheus.Counter
	lastWrite prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, connector string) *metrics {
	f := promauto.With(reg)
	labels := prometheus.Labels{"connector": connector}
	return &metrics{
		objects: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_s3_objects_written_total", ConstLabels: labels,
			Help: "Data objects this writer created (not those it found written already).",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_s3_bytes_written_total", ConstLabels: labels,
			Help: "Compressed bytes of the data objects this writer created.",
		}),
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_s3_events_written_total", ConstLabels: labels,
			Help: "Events in the data objects this writer created.",
		}),
		putTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_s3_put_duration_seconds", ConstLabels: labels,
			Help:    "Time of each PUT (objects and manifests), SDK retries included, whatever the outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms to 10 s
		}),
		adoptions: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_s3_adoptions_total", ConstLabels: labels,
			Help: "Deliveries begun by an earlier writer (a 412 on the anchor) that this writer adopted and finished.",
		}),
		restored: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_s3_objects_restored_total", ConstLabels: labels,
			Help: "Objects of finished deliveries found missing from the bucket and written again (a replay).",
		}),
		lastWrite: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_s3_last_write_timestamp_seconds", ConstLabels: labels,
			Help: "Unix time of the last batch written successfully.",
		}),
	}
}
