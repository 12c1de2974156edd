package ddsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// The reasons of rejected events, the dlq-reason header.
const (
	ReasonTooLarge         = "too_large"
	ReasonRejectedByIntake = "rejected_by_intake"
	ReasonUnencodable      = "unencodable"
)

// maxRefusedRun is how many entries in a row the intake may refuse alone
// with 400, accepting none in between, before the sink concludes that it
// refuses requests, not entries: a proxy or a fault in front of the intake
// that answers 400 to everything. Dead-lettering on would empty the whole
// stream into the DLQ; the sink retries instead, not ready, and says why.
// Events this sink writes are valid JSON logs within the size limit, so a
// genuine 400 for an entry is rare, and ten in a row rarer still.
const maxRefusedRun = 10

// deliver sends entries as one request. A 400 or a 413 splits them in
// halves, each delivered the same way, until the failing entries stand
// alone: a lone entry answered 400 is rejected, a lone entry answered 413
// fails the delivery. Every accepted or rejected entry is recorded in p as
// it happens, so that a later failure does not undo it. Any other failure
// stops the delivery with an error, as does a run of maxRefusedRun entries
// refused alone.
func (w *Writer) deliver(ctx context.Context, p *progress, entries []entry) error {
	a := w.submit(ctx, entries)
	switch {
	case a.accepted():
		p.accept(entries)
		for _, e := range entries {
			if e.old {
				w.metrics.oldEvents.Inc()
			}
		}
		return nil
	case a.code == http.StatusBadRequest || a.code == http.StatusRequestEntityTooLarge:
		if len(entries) == 1 {
			if a.code == http.StatusRequestEntityTooLarge {
				// Datadog answers 413 to a request over 5 MB uncompressed
				// or over 1000 logs; a log over 1 MB it accepts and
				// truncates. This log is at most 1 MB (entries rejects a
				// larger one before sending, as too_large), alone in a
				// request far under every limit Datadog has. So the 413
				// comes from something else: a proxy with a smaller body
				// limit, or one that answers 413 to everything. Neither
				// is the log's fault, and dead-lettering would empty the
				// stream into the DLQ: the Write fails, to be retried
				// with the sink not ready until the path takes the log.
				return w.retryable(a, fmt.Errorf("the intake answered 413 to a single log of %d bytes, which Datadog's limits "+
					"(%d bytes a log, %d a request) never refuse: a proxy or an intake in front of Datadog takes smaller bodies "+
					"than Datadog does (raise its limit, e.g. nginx's client_max_body_size); nothing is dead-lettered, retrying: %w",
					entries[0].size, w.limits.logBytes, w.limits.payloadBytes, a.failure(1)))
			}
			r := sink.Rejected{Offset: entries[0].offset, Reason: ReasonRejectedByIntake, Err: a.failure(1)}
			if p.refuse(r) {
				return fmt.Errorf("the intake refused %d entries in a row, each alone, and accepted none in between: "+
					"it is refusing requests, not entries (a proxy, or a fault in front of it); nothing is dead-lettered, retrying: %w",
					maxRefusedRun, r.Err)
			}
			return nil
		}
		half := len(entries) / 2
		if err := w.deliver(ctx, p, entries[:half]); err != nil {
			return err
		}
		return w.deliver(ctx, p, entries[half:])
	case a.code == http.StatusUnauthorized || a.code == http.StatusForbidden:
		return &sink.UnauthorizedError{Err: a.failure(len(entries))}
	}
	// 408, 429, 5xx, no answer, or an answer this package does not expect:
	// the runtime retries, honouring the intake's wait when it gave one.
	return w.retryable(a, a.failure(len(entries)))
}

// retryable returns err, the failure of the answer a, as the runtime
// retries it: after the wait the intake asked for, up to the connector's
// max_retry_wait, when it asked for one; with the runtime's own backoff
// otherwise.
func (w *Writer) retryable(a answer, err error) error {
	wait, asked, capped := a.retryWait(w.now(), w.maxRetryWait)
	if !asked {
		return err
	}
	if capped {
		w.log.Warn("the intake asked to wait longer than max_retry_wait; retrying after max_retry_wait",
			"code", a.code, "retry_after", clip(a.header.Get("Retry-After")),
			"x_ratelimit_reset", clip(a.header.Get("X-RateLimit-Reset")), "max_retry_wait", w.maxRetryWait)
	}
	return &sink.RetryAfterError{Wait: wait, Err: err}
}

// submit sends entries in one request and returns the intake's answer.
func (w *Writer) submit(ctx context.Context, entries []entry) answer {
	buf, _ := w.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	size := 0
	for _, e := range entries {
		size += e.size
	}
	*buf = w.mapper.appendBody(slices.Grow((*buf)[:0], payloadSize(len(entries), size)), entries)
	a := w.post(ctx, *buf)
	w.bodies.Put(buf)
	w.metrics.requests.WithLabelValues(a.codeLabel()).Inc()
	w.metrics.entries.Observe(float64(len(entries)))
	return a
}

// post sends body, the JSON of logs, as the client's LogsApi.SubmitLog
// sends its own (the same URL, headers and authentication: the client
// prepares the request), and returns the intake's answer. body is read
// before post returns.
func (w *Writer) post(ctx context.Context, body []byte) answer {
	c := w.api.Client
	base, err := c.Cfg.ServerURLWithContext(ctx, "v2.LogsApi.SubmitLog")
	if err != nil {
		return answer{err: fmt.Errorf("datadog client: %w", err)}
	}
	headers := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	datadog.SetAuthKeys(ctx, &headers, [2]string{"apiKeyAuth", "DD-API-KEY"})
	// The client is given no body, which it would copy into a buffer of
	// its own (a megabyte a request, for nothing): the request takes body
	// as it is, which gzipTransport reads.
	req, err := c.PrepareRequest(ctx, base+"/api/v2/logs", http.MethodPost, nil, headers, url.Values{}, url.Values{}, nil)
	if err != nil {
		return answer{err: fmt.Errorf("datadog client: %w", err)}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	// The client's CallAPI would only add its retries, which are off (the
	// runtime retries), and its debug dumps, which are off; and it would
	// read the whole body once more into a buffer grown from 512 bytes
	// (5% of the sink's CPU, clearing and copying). So the request goes to
	// the client's HTTP client directly.
	resp, err := c.Cfg.HTTPClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	a := answer{code: resp.StatusCode, header: resp.Header}
	a.body, a.err = datadog.ReadBody(resp)
	if a.err == nil && !a.accepted() {
		a.err = errors.New(resp.Status)
	}
	return a
}
