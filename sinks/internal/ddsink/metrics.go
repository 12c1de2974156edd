package ddsink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the Writer's Prometheus metrics.
type metrics struct {
	requests    *prometheus.CounterVec // by status code, or "error" without one
	entries     prometheus.Histogram   // logs per request sent
	oldEvents   prometheus.Counter
	lastSuccess prometheus.Gauge
	rejected    *prometheus.CounterVec // by reason
}

// newMetrics registers the metrics with reg. A nil reg registers nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_datadog_requests_total",
			Help: "Requests to the Datadog logs intake, by HTTP status code (\"error\" when no answer came).",
		}, []string{"code"}),
		entries: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_datadog_request_entries",
			Help: "Logs per request to the Datadog logs intake. The intake takes at most 1000.",
			// 999 and 1000 apart, so that full requests stand out.
			Buckets: []float64{1, 10, 100, 250, 500, 750, 999, 1000},
		}),
		oldEvents: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_datadog_old_events_total",
			Help: "Events delivered more than 18 hours after they occurred, which Datadog does not index.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_datadog_last_success_timestamp_seconds",
			Help: "When a batch was last delivered to Datadog, in seconds since the epoch.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_datadog_rejected_total",
			Help: "Events never delivered to Datadog, sent to the dead-letter topic instead, by reason.",
		}, []string{"reason"}),
	}
}
