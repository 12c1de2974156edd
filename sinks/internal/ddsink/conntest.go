package ddsink

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TestTag marks the log ConnectorTest sends, so that it can be found, and
// excluded, in Datadog.
const TestTag = "auditstream:test"

// TestResult is what the intake made of ConnectorTest's log.
type TestResult struct {
	// Endpoint is where the log went (no secret).
	Endpoint string
	// Code is the HTTP status, 0 when no answer came (Err says why).
	Code   int
	Detail string
	Err    error
}

// ConnectorTest sends one log tagged auditstream:test, with the
// connector's source, service, hostname and tags, the way Write sends
// (same client, gzip and endpoint), and returns the intake's answer.
// Datadog accepts with 202.
func (w *Writer) ConnectorTest(ctx context.Context) TestResult {
	res := TestResult{Endpoint: w.endpoint.display}
	key, err := w.apiKey.Resolve()
	if err != nil {
		res.Err = fmt.Errorf("datadog api key: %w", err)
		return res
	}
	tags := strings.Join(append([]string{TestTag}, w.mapper.tags...), ",")
	now := w.now()
	log := ddlog{
		message: fmt.Sprintf("auditstream connector test at %s", now.UTC().Format(time.RFC3339)),
		tags:    tags,
		timed:   true,
		millis:  now.UnixMilli(),
	}
	a := w.submit(w.endpoint.context(ctx, key), []entry{{log: log}})
	res.Code, res.Detail = a.code, a.detail()
	if a.code == 0 {
		res.Err = a.err
	}
	return res
}
