package ddintake

import "time"

// The documented limits of the Datadog Logs intake, per request. The documentation
// writes "5MB" and "1MB"; Datadog's own shippers read them as decimal (the Agent's
// logs_config.batch_max_content_size defaults to 5000000, and Vector's Datadog logs
// sink caps payloads at 5_000_000 bytes), and so does this server.
const (
	// MaxPayloadBytes is the largest uncompressed body the intake accepts.
	MaxPayloadBytes = 5_000_000
	// MaxEntries is the largest number of logs in one request.
	MaxEntries = 1000
	// MaxLogBytes is the size above which a single log is truncated.
	MaxLogBytes = 1_000_000
	// MaxLogAge is how far in the past a log's timestamp may be.
	MaxLogAge = 18 * time.Hour
)

// Limits are the per-request limits a Server enforces. A zero field takes the
// documented value.
type Limits struct {
	// MaxPayloadBytes is the largest uncompressed body accepted; above it, 413.
	MaxPayloadBytes int
	// MaxEntries is the largest number of logs in one request; above it, 413.
	MaxEntries int
	// MaxLogBytes is the size above which a log is truncated.
	MaxLogBytes int
	// MaxLogAge is the age above which a log is marked TooOld.
	MaxLogAge time.Duration
}

// withDefaults returns l with every zero field set to the documented value.
func (l Limits) withDefaults() Limits {
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = MaxPayloadBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = MaxEntries
	}
	if l.MaxLogBytes <= 0 {
		l.MaxLogBytes = MaxLogBytes
	}
	if l.MaxLogAge <= 0 {
		l.MaxLogAge = MaxLogAge
	}
	return l
}
