package ddintake

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind names what a fault does to a request it hits.
type Kind string

// The kinds of fault.
const (
	// KindStatus answers with Status and an errors body, without looking at the
	// request: 429 (with rate-limit headers), 500, 503, 408 or any other error code.
	KindStatus Kind = "status"
	// KindLatency waits Latency, then handles the request as usual.
	KindLatency Kind = "latency"
	// KindDrop closes the connection without an answer.
	KindDrop Kind = "drop"
	// KindPoison fails the whole request with 400 when the message of any of its
	// entries contains Match. The errors body names every such entry by index, so
	// that a sink can split the batch and isolate them.
	KindPoison Kind = "poison"
)

// Fault is a misbehaviour to inject. Kind says what it does; Count, Probability,
// After and For say which requests it hits. With those left zero, it hits every
// request from now on.
type Fault struct {
	Kind Kind

	// Status is the code a KindStatus fault answers with.
	Status int
	// Latency is how long a KindLatency fault delays a request.
	Latency time.Duration
	// Match is the substring a KindPoison fault looks for in messages.
	Match string
	// RateLimit sets the X-RateLimit-* headers of a 429.
	RateLimit RateLimit
	// RetryAfter adds a Retry-After header to a KindStatus answer, with the same
	// number of seconds as X-RateLimit-Reset.
	RetryAfter bool

	// Count limits the fault to the next Count requests it hits. Zero means no limit.
	Count int
	// Probability makes the fault hit that fraction of the requests it could hit,
	// drawn from a generator seeded with Seed. Zero means every request.
	Probability float64
	// Seed seeds the Probability draws, so that a test sees the same hits each run.
	Seed uint64
	// After delays the start of the fault by that long from Inject.
	After time.Duration
	// For ends the fault that long after it started. Zero means it never ends.
	For time.Duration
}

// RateLimit describes the X-RateLimit-* headers of a 429. Datadog documents them
// as: Limit, the requests allowed per period; Period, the period in seconds;
// Remaining, the requests left in it (always 0 on a 429); Reset, the seconds until
// the period resets.
type RateLimit struct {
	// Limit is X-RateLimit-Limit. Zero means 100.
	Limit int
	// Period is X-RateLimit-Period. Zero means the fault's For, or else one minute.
	Period time.Duration
	// Reset is X-RateLimit-Reset for a fault without For. Zero means one second.
	// A fault with For always reports the time left in its window instead.
	Reset time.Duration
}

// validate reports what is wrong with f, if anything.
func (f Fault) validate() error {
	switch f.Kind {
	case KindStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status fault: status %d is not an error code", f.Status)
		}
	case KindLatency:
		if f.Latency <= 0 {
			return errors.New("latency fault: latency must be positive")
		}
	case KindDrop:
	case KindPoison:
		if f.Match == "" {
			return errors.New("poison fault: match must not be empty")
		}
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	switch {
	case f.Count < 0:
		return errors.New("count must not be negative")
	case f.Probability < 0 || f.Probability > 1:
		return fmt.Errorf("probability %v is outside [0, 1]", f.Probability)
	case f.After < 0 || f.For < 0:
		return errors.New("after and for must not be negative")
	case f.RateLimit.Limit < 0 || f.RateLimit.Period < 0 || f.RateLimit.Reset < 0:
		return errors.New("rate limit values must not be negative")
	}
	return nil
}

// terminal reports whether the fault answers the request itself, so that later
// faults no longer apply to it.
func (f Fault) terminal() bool {
	return f.Kind == KindStatus || f.Kind == KindDrop
}

// headers sets the rate-limit and retry headers of a KindStatus answer. left is
// the time left in the fault's window, or zero when it has none.
func (f Fault) headers(h http.Header, left time.Duration) {
	reset := f.RateLimit.Reset
	if reset <= 0 {
		reset = time.Second
	}
	if f.For > 0 {
		reset = left
	}
	resetSeconds := ceilSeconds(reset)
	if f.Status == http.StatusTooManyRequests {
		limit := f.RateLimit.Limit
		if limit == 0 {
			limit = 100
		}
		period := f.RateLimit.Period
		if period <= 0 {
			period = f.For
		}
		if period <= 0 {
			period = time.Minute
		}
		h.Set("X-RateLimit-Limit", fmt.Sprint(limit))
		h.Set("X-RateLimit-Period", fmt.Sprint(ceilSeconds(period)))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", fmt.Sprint(resetSeconds))
	}
	if f.RetryAfter {
		h.Set("Retry-After", fmt.Sprint(resetSeconds))
	}
}

// ceilSeconds rounds d up to whole seconds, and never below one: a client told to
// wait zero seconds would retry at once into the same fault.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
