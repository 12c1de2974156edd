package sink

import (
	"errors"
	"math/rand/v2"
	"time"
)

// backoff is exponential with full jitter, capped. Jitter keeps replicas
// that failed together from retrying together.
type backoff struct {
	min, max time.Duration
	attempt  int
}

func (b *backoff) next() time.Duration {
	d := b.min << min(b.attempt, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.attempt++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.attempt = 0 }

// waitFor picks the wait before retrying after err, and a reason label.
func (b *backoff) waitFor(err error, unauthorizedEvery time.Duration) (time.Duration, string) {
	var ra *RetryAfterError
	switch {
	case errors.As(err, &ra):
		return max(ra.Wait, b.min), "rate_limited"
	case IsUnauthorized(err):
		return unauthorizedEvery, "unauthorized"
	}
	return b.next(), "error"
}
