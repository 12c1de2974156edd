package ddintake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// apiKeyHeader is the header that carries the Datadog API key.
const apiKeyHeader = "DD-API-KEY"

// handleIntake serves the logs intake, POST /api/v2/logs.
func (s *Server) handleIntake(w http.ResponseWriter, r *http.Request) {
	var o outcome
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed", r.Method))
		o = outcome{status: http.StatusMethodNotAllowed}
	} else {
		o = s.intake(w, r, s.seq.Add(1), s.now())
	}
	s.mu.Lock()
	s.stats.record(o)
	s.mu.Unlock()
	// The drop comes after the record: on HTTP/2 it panics out of the handler.
	if o.dropped {
		dropConnection(w)
	}
}

// intake handles one POST, the request numbered seq and received at received, and
// returns what came of it. The injected faults act first, as a load balancer or an
// overloaded intake would, before the key and the payload are looked at.
func (s *Server) intake(w http.ResponseWriter, r *http.Request, seq uint64, received time.Time) outcome {
	s.mu.Lock()
	p := s.faults.plan(received)
	s.mu.Unlock()

	// The body is read first, as a server does before it processes a
	// request. Only then does Go's server watch the connection, so that a
	// client that times out or dies during injected latency is seen as
	// gone (canceled) instead of having its logs stored after all.
	body, sent, bodyErr := readBody(r, s.limits.MaxPayloadBytes)
	if p.latency > 0 && !sleep(r.Context(), p.latency) {
		return outcome{canceled: true}
	}
	if f := p.answer; f != nil {
		if f.Kind == KindDrop {
			return outcome{dropped: true}
		}
		f.headers(w.Header(), p.left)
		writeError(w, f.Status, fmt.Sprintf("injected by fault %d", p.answerID))
		return outcome{status: f.Status}
	}

	if status, detail := s.authorize(r.Header.Get(apiKeyHeader)); status != 0 {
		writeError(w, status, detail)
		return outcome{status: status}
	}
	if bodyErr != nil {
		discardBody(r, s.limits.MaxPayloadBytes)
		return answerRejection(w, bodyErr)
	}
	logs, err := parsePayload(body, s.limits, r.URL.Query().Get("ddtags"), received)
	if err != nil {
		return answerRejection(w, err)
	}
	o := outcome{status: http.StatusAccepted, entries: len(logs), received: sent, decoded: int64(len(body))}
	for i := range logs {
		logs[i].Request, logs[i].Received = seq, received
		if logs[i].Truncated {
			o.truncated++
		}
		if logs[i].TooOld {
			o.tooOld++
		}
	}

	s.mu.Lock()
	bad := s.faults.poison(received, logs)
	if len(bad) == 0 {
		s.logs.add(logs)
	}
	s.mu.Unlock()

	if len(bad) > 0 {
		errs := make([]APIError, 0, len(bad))
		for _, b := range bad {
			errs = append(errs, newAPIError(http.StatusBadRequest,
				fmt.Sprintf("entry %d: message contains poison %q", b.index, b.match)))
		}
		writeErrors(w, http.StatusBadRequest, errs...)
		return outcome{status: http.StatusBadRequest}
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
	return o
}

// authorize checks an API key. It returns 401 for a missing key, 403 for a key
// that is not accepted, and 0 for an accepted key.
func (s *Server) authorize(key string) (int, string) {
	if key == "" {
		return http.StatusUnauthorized, "API key is missing: set the " + apiKeyHeader + " header"
	}
	s.mu.Lock()
	ok := s.keys[key]
	s.mu.Unlock()
	if !ok {
		return http.StatusForbidden, "API key is invalid"
	}
	return 0, ""
}

// answerRejection answers with the status and detail of err, a *rejection.
func answerRejection(w http.ResponseWriter, err error) outcome {
	var rej *rejection
	if !errors.As(err, &rej) {
		rej = &rejection{status: http.StatusInternalServerError, detail: err.Error()}
	}
	writeError(w, rej.status, rej.detail)
	return outcome{status: rej.status}
}

// sleep waits for d, or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the request's connection without writing a response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot hijack; aborting the handler resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// discardBody reads and drops what is left of r's body, up to twice limit, so
// that the client sees the answer rather than a reset while it is still sending.
func discardBody(r *http.Request, limit int) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 2*int64(limit)))
}
