package sink

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRetrier(t *testing.T) {
	down := errors.New("down")
	final := errors.New("final")
	tests := []struct {
		name        string
		op          func(attempt int) error
		cancelAfter int // cancel the context after this many attempts (0: never)
		wantErr     error
		wantCalls   int
		wantRetries float64
	}{
		{"succeeds at once", func(int) error { return nil }, 0, nil, 1, 0},
		{"succeeds on the third", func(a int) error {
			if a < 3 {
				return down
			}
			return nil
		}, 0, nil, 3, 2},
		{"permanent error", func(a int) error {
			if a < 2 {
				return down
			}
			return permanent(final)
		}, 0, final, 2, 1},
		{"stopped", func(int) error { return down }, 2, context.Canceled, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h health
			retries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"reason"})
			r := retrier{backoff: backoff{min: time.Millisecond, max: 2 * time.Millisecond}, slowest: time.Millisecond,
				log: slog.New(slog.DiscardHandler), retries: retries, health: &h}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			sawFailing := false
			err := r.do(ctx, "op", func(context.Context) error {
				calls++
				sawFailing = sawFailing || h.get() != nil
				if tt.cancelAfter > 0 && calls == tt.cancelAfter {
					cancel()
				}
				return tt.op(calls)
			})
			if !errors.Is(err, tt.wantErr) || calls != tt.wantCalls {
				t.Errorf("got %v after %d calls, want %v after %d", err, calls, tt.wantErr, tt.wantCalls)
			}
			if got := testutil.ToFloat64(retries.WithLabelValues("error")); got != tt.wantRetries {
				t.Errorf("retries: got %v, want %v", got, tt.wantRetries)
			}
			if tt.wantRetries > 0 && tt.cancelAfter == 0 && !sawFailing {
				t.Error("health: not failing between attempts")
			}
			if tt.cancelAfter == 0 && h.get() != nil {
				t.Errorf("health after the operation ended: got %v, want nil", h.get())
			}
		})
	}
}
