package ddintake

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Log is one accepted log, as the intake received it. It is kept compact: tests
// push up to a hundred thousand of them through one Server.
type Log struct {
	// ID numbers accepted logs from 1 in the order they were stored. IDs are never
	// reused, not even after ClearLogs, so a poller's cursor stays valid.
	ID uint64 `json:"id"`
	// Request is the sequence number of the request that carried the log.
	Request uint64 `json:"request"`
	// Received is when the server received that request.
	Received time.Time `json:"received"`

	Message  string `json:"message"`
	Source   string `json:"ddsource,omitempty"`
	Tags     string `json:"ddtags,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Service  string `json:"service,omitempty"`
	// Timestamp is the log's timestamp attribute, when it has one that parses
	// (milliseconds since the epoch, or RFC 3339). The raw value stays in Attributes.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Attributes holds every other attribute of the log, as a JSON object.
	Attributes json.RawMessage `json:"attributes,omitempty"`

	// Truncated reports that the log was over the size limit and its message was cut.
	Truncated bool `json:"truncated,omitempty"`
	// TooOld reports that the log's timestamp was further in the past than Datadog
	// accepts. The real intake answers 202 and then drops such a log.
	TooOld bool `json:"too_old,omitempty"`
}

// TagList returns the log's tags, split on commas, without empty ones.
func (l Log) TagList() []string {
	var tags []string
	for tag := range strings.SplitSeq(l.Tags, ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			tags = append(tags, tag)
		}
	}
	return tags
}

// Attribute decodes the attribute named key into v and reports whether it was there.
func (l Log) Attribute(key string, v any) (bool, error) {
	if len(l.Attributes) == 0 {
		return false, nil
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(l.Attributes, &attrs); err != nil {
		return false, err
	}
	raw, ok := attrs[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// logStore holds the accepted logs in ID order. Its caller holds the lock.
type logStore struct {
	logs   []Log
	lastID uint64
}

// add stores the logs of one request, giving each the next ID.
func (s *logStore) add(logs []Log) {
	for i := range logs {
		s.lastID++
		logs[i].ID = s.lastID
	}
	s.logs = append(s.logs, logs...)
}

// since returns a copy of up to limit logs with an ID above id, and whether more
// remain. A limit of zero or less means no limit.
func (s *logStore) since(id uint64, limit int) ([]Log, bool) {
	start := sort.Search(len(s.logs), func(i int) bool { return s.logs[i].ID > id })
	rest := s.logs[start:]
	more := false
	if limit > 0 && len(rest) > limit {
		rest, more = rest[:limit], true
	}
	return append([]Log(nil), rest...), more
}

// clear drops every log but keeps the ID counter.
func (s *logStore) clear() {
	s.logs = nil
}
