package ddsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// maxLogAge is how old a log Datadog still indexes. Older events are sent
// all the same (the intake answers 202 and drops them), and counted.
const maxLogAge = 18 * time.Hour

// defaultTimeout bounds one request when Options.HTTPClient is nil.
const defaultTimeout = time.Minute

// Options configure a Writer.
type Options struct {
	// Connector is the Datadog connector; its Datadog settings must be set.
	Connector *config.Connector
	// Log receives the Writer's logs (the caller's logger, which names the connector). Nil means none.
	Log *slog.Logger
	// Registerer takes the Writer's metrics. Nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock that ages events and reads Retry-After dates. Nil
	// means time.Now.
	Now func() time.Time
	// HTTPClient sends the requests. Nil means a client with a one-minute
	// timeout per request. The Writer sends through a copy of it whose
	// transport gzips the bodies (gzipTransport).
	HTTPClient *http.Client
}

// Writer delivers batches to Datadog Logs. It is safe for concurrent use
// by the Writes of different partitions.
type Writer struct {
	api      *datadogV2.LogsApi
	endpoint endpoint
	apiKey   config.Secret
	mapper   *mapper
	limits   limits
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
	book     progressBook
	bodies   sync.Pool // *[]byte, for request bodies
	// maxRetryWait caps the wait the intake asks for (max_retry_wait).
	maxRetryWait time.Duration
}

// New returns a Writer for the connector of o.
func New(o Options) (*Writer, error) {
	conf, ok := ConfigOf(o.Connector)
	if !ok {
		return nil, errors.New("ddsink: no datadog connector")
	}
	// A block built by hand, not by Destination, gets the same defaults
	// and the same check.
	d := *conf
	d.applyDefaults()
	var bad error
	d.check(func(msg string, where ...any) {
		if bad == nil {
			bad = fmt.Errorf("connector %s: datadog.%s: %s", o.Connector.ID, where[0], msg)
		}
	})
	if bad != nil {
		return nil, bad
	}
	if !d.APIKey.IsSet() {
		return nil, fmt.Errorf("connector %s: no datadog api key", o.Connector.ID)
	}
	ep, err := newEndpoint(&d)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", o.Connector.ID, err)
	}
	level, ceiling := d.CompressionLevel, d.MaxRetryWait.D()
	w := &Writer{
		endpoint: ep,
		apiKey:   d.APIKey,
		limits:   limits{entries: maxEntries, payloadBytes: maxPayloadBytes, logBytes: maxLogBytes},
		log:      o.Log,
		now:      o.Now,
		metrics:  newMetrics(o.Registerer),

		maxRetryWait: ceiling,
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	hostname := d.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("connector %s: no hostname configured, and the system's: %w", o.Connector.ID, err)
		}
	}
	w.mapper = newMapper(d.Source, d.Service, hostname, d.Tags)
	if !w.mapper.handWritten {
		w.log.Warn("the audit event's fields are not the ones ddsink writes by hand; encoding messages with protojson, which is slower")
	}

	cfg := datadog.NewConfiguration()
	// The runtime retries, and must see every answer to honour its headers.
	cfg.RetryConfiguration.EnableRetry = false
	// The client is asked for no content encoding: gzipTransport
	// compresses instead, faster than the client's gzip would.
	hc := http.Client{Timeout: defaultTimeout}
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &gzipTransport{next: next, level: level}
	cfg.HTTPClient = &hc
	w.api = datadogV2.NewLogsApi(datadog.NewAPIClient(cfg))
	w.log.Info("datadog writer ready", "endpoint", ep.display, "api_key_from", d.APIKey)
	return w, nil
}

// Write delivers b, as the sink.Writer contract says: it returns once every
// event is accepted by the intake or rejected for good (in
// Result.Rejected), or fails with nothing dropped. A retry of a failed
// batch skips what the failed attempts delivered.
func (w *Writer) Write(ctx context.Context, b *batch.Batch) (sink.Result, error) {
	if b.Len() == 0 {
		return sink.Result{Through: b.Start - 1}, nil
	}
	// The key is read for every batch, so that a rotated key file or
	// variable is used without a restart.
	key, err := w.apiKey.Resolve()
	if err != nil {
		return sink.Result{}, &sink.UnauthorizedError{Err: fmt.Errorf("datadog api key: %w", err)}
	}
	p := w.book.begin(b)
	entries := w.entries(b, p)
	ctx = w.endpoint.context(ctx, key)
	for _, req := range requests(entries, w.limits) {
		if err := w.deliver(ctx, p, req); err != nil {
			return sink.Result{}, fmt.Errorf("deliver %s partition %d offsets %d-%d to %s: %w",
				b.Topic, b.Partition, b.First(), b.Last(), w.endpoint.display, err)
		}
	}
	w.book.end(b)
	w.metrics.lastSuccess.Set(float64(w.now().UnixMilli()) / 1e3)
	res := sink.Result{Through: b.Last(), Rejected: p.rejections()}
	for _, r := range res.Rejected {
		w.metrics.rejected.WithLabelValues(r.Reason).Inc()
	}
	if len(res.Rejected) > 0 {
		w.log.Warn("events rejected, sent to the dead-letter topic",
			"partition", b.Partition, "first", b.First(), "last", b.Last(), "rejected", len(res.Rejected))
	}
	return res, nil
}

// entries maps the events of b that p has not seen done into logs. An
// event whose log cannot be sent at all is rejected into p instead.
func (w *Writer) entries(b *batch.Batch, p *progress) []entry {
	now := w.now()
	out := make([]entry, 0, b.Len())
	logs := w.mapper.builder(b.Bytes)
	old := 0
	for _, it := range b.Items {
		if p.done(it.Offset) {
			continue
		}
		size, err := logs.add(it.Event)
		if err != nil {
			p.reject(sink.Rejected{Offset: it.Offset, Reason: ReasonUnencodable, Err: err})
			continue
		}
		if size > w.limits.logBytes {
			p.reject(sink.Rejected{Offset: it.Offset, Reason: ReasonTooLarge,
				Err: fmt.Errorf("log of event %s is %d bytes, over the intake's limit of %d", it.Event.GetId(), size, w.limits.logBytes)})
			continue
		}
		logs.keep()
		e := entry{offset: it.Offset, size: size}
		if occ := it.Event.GetOccurred(); occ != nil && now.Sub(occ.AsTime()) > maxLogAge {
			e.old = true
			old++
		}
		out = append(out, e)
	}
	for i, l := range logs.logs() {
		out[i].log = l
	}
	if old > 0 {
		w.log.Warn("events older than Datadog indexes (18h); sending them anyway",
			"partition", b.Partition, "first", b.First(), "last", b.Last(), "old", old)
	}
	return out
}
