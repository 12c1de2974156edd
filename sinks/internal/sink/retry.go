package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// health is why a partition cannot make progress right now, or nil.
type health struct{ err atomic.Pointer[error] }

func (h *health) set(err error) { h.err.Store(&err) }
func (h *health) clear()        { h.err.Store(nil) }

func (h *health) get() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

// retrier runs an operation until it succeeds: a write, a dead letter, a
// commit, a fetch of the committed offset. Between attempts it waits with
// backoff and jitter (or as long as the destination asked). While the
// operation fails, the partition's health says why, so that the sink is
// not ready.
type retrier struct {
	backoff backoff
	slowest time.Duration // the pace of an error only an operator can fix
	log     *slog.Logger
	retries *prometheus.CounterVec // by reason
	health  *health
}

// permanentError is an error that retrying will not fix; do returns it.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// permanent marks err as one to return to do's caller instead of retrying.
func permanent(err error) error { return &permanentError{err} }

// do calls op until it succeeds (nil), op returns a permanent error (that
// error), or ctx ends (ctx's error). attrs name what is being done, for the
// logs.
func (r *retrier) do(ctx context.Context, what string, op func(context.Context) error, attrs ...any) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			if attempt > 1 {
				r.log.Info(what+" recovered", append(attrs, "attempts", attempt)...)
			}
			r.health.clear()
			r.backoff.reset()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pe, ok := errors.AsType[*permanentError](err); ok {
			r.health.clear() // the operation did its part; the caller decides
			return pe.err
		}
		r.health.set(fmt.Errorf("%s: %w", what, err))
		wait, reason := r.backoff.waitFor(err, r.slowest)
		r.retries.WithLabelValues(reason).Inc()
		level := r.log.Warn
		if reason == "unauthorized" {
			level = r.log.Error // an operator must act; say so every time
		}
		if attempt == 1 || attempt%10 == 0 || reason == "unauthorized" {
			level(what+" failed; retrying", append(attrs, "attempt", attempt, "wait", wait.Round(time.Millisecond),
				"reason", reason, "err", err)...)
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// sleep waits d, or less if ctx ends; it reports whether ctx is still live.
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
