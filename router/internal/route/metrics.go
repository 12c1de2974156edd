package route

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the router's Prometheus series.
type metrics struct {
	in         prometheus.Counter
	routed     *prometheus.CounterVec
	filtered   prometheus.Counter
	dlq        *prometheus.CounterVec
	txns       *prometheus.CounterVec
	commitTime prometheus.Histogram
	txnRecords prometheus.Histogram
	lag        *prometheus.GaugeVec
	generation prometheus.Gauge
	unknown    *prometheus.CounterVec
	aborting   prometheus.Gauge
	starts     prometheus.Gauge
	renewals   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		in: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_router_records_in_total", Help: "Records read from the events topic.",
		}),
		routed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_router_routed_total", Help: "Records routed to a connector topic (counted when the transaction commits).",
		}, []string{"connector"}),
		filtered: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_router_filtered_total", Help: "Records that matched no connector.",
		}),
		dlq: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_router_dlq_total", Help: "Records sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		txns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_router_transactions_total", Help: "Transactions ended, by result (commit or abort).",
		}, []string{"result"}),
		commitTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_router_commit_seconds", Help: "Time to end a transaction: flush, offset commit and EndTxn.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
		}),
		txnRecords: f.NewHistogram(prometheus.HistogramOpts{
			Name: "auditstream_router_transaction_records", Help: "Records read per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "auditstream_router_lag", Help: "Records behind the high watermark, by partition of the events topic.",
		}, []string{"partition"}),
		generation: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_router_config_generation", Help: "How many times the routing config was loaded (1 at start).",
		}),
		unknown: f.NewCounterVec(prometheus.CounterOpts{
			Name: "auditstream_router_unknown_fields_total",
			Help: "Records accepted whose value had fields this schema does not know (a newer producer's, or a misspelt field), by encoding (json or protobuf).",
		}, []string{"encoding"}),
		aborting: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_router_consecutive_aborts", Help: "Transactions aborted in a row since the last commit; the router is not ready from " + strconv.Itoa(maxAborts) + " on.",
		}),
		starts: f.NewGauge(prometheus.GaugeOpts{
			Name: "auditstream_router_live_starts_pending",
			Help: "Connector and partition pairs owned here whose live start (where backfill stops) is not recorded yet; recorded at the next transaction.",
		}),
		renewals: f.NewCounter(prometheus.CounterOpts{
			Name: "auditstream_router_session_renewals_total",
			Help: "Kafka sessions replaced because a transaction could not be ended (the cluster was unreachable).",
		}),
	}
}
