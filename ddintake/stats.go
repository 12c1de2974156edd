package ddintake

import (
	"maps"
	"net/http"
)

// Stats counts what the intake endpoint saw since the server started or the
// stats were last cleared.
type Stats struct {
	// Requests counts every request to the intake endpoint, answered or not.
	Requests int `json:"requests"`
	// ByStatus counts the answered requests by status code.
	ByStatus map[int]int `json:"by_status"`
	// Dropped counts the requests whose connection was closed without an answer.
	Dropped int `json:"dropped"`
	// Canceled counts the requests whose client went away during injected latency.
	Canceled int `json:"canceled"`

	// EntriesAccepted counts the logs of accepted requests.
	EntriesAccepted int `json:"entries_accepted"`
	// EntriesTruncated counts the accepted logs that were cut to the size limit.
	EntriesTruncated int `json:"entries_truncated"`
	// EntriesTooOld counts the accepted logs older than Datadog keeps.
	EntriesTooOld int `json:"entries_too_old"`
	// EntriesPerRequest maps an entry count to the number of accepted requests that
	// carried exactly that many logs. A benchmark reads the share of full batches
	// from it.
	EntriesPerRequest map[int]int `json:"entries_per_request"`

	// BytesReceived sums the bodies of accepted requests as sent (compressed).
	BytesReceived int64 `json:"bytes_received"`
	// BytesDecoded sums the bodies of accepted requests after decompression.
	BytesDecoded int64 `json:"bytes_decoded"`
}

// outcome is what one intake request came to, for the stats.
type outcome struct {
	status    int // 0 when there was no answer
	dropped   bool
	canceled  bool
	entries   int
	truncated int
	tooOld    int
	received  int64
	decoded   int64
}

// statsRecorder accumulates Stats. Its caller holds the lock.
type statsRecorder struct {
	s Stats
}

// record adds one request's outcome.
func (r *statsRecorder) record(o outcome) {
	if r.s.ByStatus == nil {
		r.s.ByStatus = make(map[int]int)
		r.s.EntriesPerRequest = make(map[int]int)
	}
	r.s.Requests++
	switch {
	case o.dropped:
		r.s.Dropped++
	case o.canceled:
		r.s.Canceled++
	default:
		r.s.ByStatus[o.status]++
	}
	if o.status != http.StatusAccepted {
		return
	}
	r.s.EntriesAccepted += o.entries
	r.s.EntriesTruncated += o.truncated
	r.s.EntriesTooOld += o.tooOld
	r.s.EntriesPerRequest[o.entries]++
	r.s.BytesReceived += o.received
	r.s.BytesDecoded += o.decoded
}

// snapshot returns a copy that the caller may keep.
func (r *statsRecorder) snapshot() Stats {
	s := r.s
	s.ByStatus = maps.Clone(r.s.ByStatus)
	s.EntriesPerRequest = maps.Clone(r.s.EntriesPerRequest)
	if s.ByStatus == nil {
		s.ByStatus = map[int]int{}
		s.EntriesPerRequest = map[int]int{}
	}
	return s
}

// clear zeroes every count.
func (r *statsRecorder) clear() {
	r.s = Stats{}
}
