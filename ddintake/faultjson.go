package ddintake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// faultJSON is the JSON form of a Fault, as the /_intake/faults endpoint takes and
// gives it. Durations are strings such as "250ms" or "30s".
type faultJSON struct {
	Kind        Kind          `json:"kind"`
	Status      int           `json:"status,omitempty"`
	Latency     jsonDuration  `json:"latency,omitzero"`
	Match       string        `json:"match,omitempty"`
	RateLimit   rateLimitJSON `json:"rate_limit,omitzero"`
	RetryAfter  bool          `json:"retry_after,omitempty"`
	Count       int           `json:"count,omitempty"`
	Probability float64       `json:"probability,omitempty"`
	Seed        uint64        `json:"seed,omitempty"`
	After       jsonDuration  `json:"after,omitzero"`
	For         jsonDuration  `json:"for,omitzero"`
}

// rateLimitJSON is the JSON form of a RateLimit.
type rateLimitJSON struct {
	Limit  int          `json:"limit,omitempty"`
	Period jsonDuration `json:"period,omitzero"`
	Reset  jsonDuration `json:"reset,omitzero"`
}

// MarshalJSON encodes f with durations as strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{
		Kind:    f.Kind,
		Status:  f.Status,
		Latency: jsonDuration(f.Latency),
		Match:   f.Match,
		RateLimit: rateLimitJSON{
			Limit:  f.RateLimit.Limit,
			Period: jsonDuration(f.RateLimit.Period),
			Reset:  jsonDuration(f.RateLimit.Reset),
		},
		RetryAfter:  f.RetryAfter,
		Count:       f.Count,
		Probability: f.Probability,
		Seed:        f.Seed,
		After:       jsonDuration(f.After),
		For:         jsonDuration(f.For),
	})
}

// UnmarshalJSON decodes f, rejecting unknown fields so that a typo in a test
// script fails instead of injecting a different fault.
func (f *Fault) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j faultJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("decode fault: %w", err)
	}
	*f = Fault{
		Kind:    j.Kind,
		Status:  j.Status,
		Latency: time.Duration(j.Latency),
		Match:   j.Match,
		RateLimit: RateLimit{
			Limit:  j.RateLimit.Limit,
			Period: time.Duration(j.RateLimit.Period),
			Reset:  time.Duration(j.RateLimit.Reset),
		},
		RetryAfter:  j.RetryAfter,
		Count:       j.Count,
		Probability: j.Probability,
		Seed:        j.Seed,
		After:       time.Duration(j.After),
		For:         time.Duration(j.For),
	}
	return nil
}

// jsonDuration is a time.Duration written in JSON as a string like "30s". It also
// reads a bare number, as seconds.
type jsonDuration time.Duration

// MarshalJSON encodes d as a duration string.
func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a duration string or a number of seconds.
func (d *jsonDuration) UnmarshalJSON(data []byte) error {
	var seconds float64
	if err := json.Unmarshal(data, &seconds); err == nil {
		*d = jsonDuration(seconds * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("duration %s: want a string like \"30s\" or a number of seconds", data)
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = jsonDuration(parsed)
	return nil
}
