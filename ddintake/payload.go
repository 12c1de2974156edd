package ddintake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// The reserved attributes that Log keeps in fields of their own.
const (
	attrMessage   = "message"
	attrSource    = "ddsource"
	attrTags      = "ddtags"
	attrHostname  = "hostname"
	attrService   = "service"
	attrTimestamp = "timestamp"
)

// parsePayload turns a decoded body into logs: a JSON array of log objects, or a
// single log object. queryTags are the request's ddtags query parameter, added to
// every log. now is the receive time, against which timestamps are aged.
func parsePayload(body []byte, limits Limits, queryTags string, now time.Time) ([]Log, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, reject(http.StatusBadRequest, "empty payload")
	}
	var entries []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &entries); err != nil {
			return nil, reject(http.StatusBadRequest, "malformed payload: %v", err)
		}
		if len(entries) > limits.MaxEntries {
			return nil, reject(http.StatusRequestEntityTooLarge,
				"payload has %d entries, over the limit of %d", len(entries), limits.MaxEntries)
		}
	case '{':
		if !json.Valid(body) {
			return nil, reject(http.StatusBadRequest, "malformed payload: invalid JSON object")
		}
		entries = []json.RawMessage{body}
	default:
		return nil, reject(http.StatusBadRequest, "malformed payload: want a JSON object or an array of objects")
	}
	logs := make([]Log, 0, len(entries))
	for i, raw := range entries {
		l, err := parseEntry(raw, limits, queryTags, now)
		if err != nil {
			return nil, reject(http.StatusBadRequest, "entry %d: %v", i, err)
		}
		logs = append(logs, l)
	}
	return logs, nil
}

// parseEntry turns one JSON log object into a Log.
func parseEntry(raw json.RawMessage, limits Limits, queryTags string, now time.Time) (Log, error) {
	var attrs map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &attrs) != nil {
		return Log{}, errors.New("not a JSON object")
	}
	l := Log{
		Message:  takeString(attrs, attrMessage),
		Source:   takeString(attrs, attrSource),
		Tags:     joinTags(takeString(attrs, attrTags), queryTags),
		Hostname: takeString(attrs, attrHostname),
		Service:  takeString(attrs, attrService),
	}
	if ts, ok := attrs[attrTimestamp]; ok {
		l.Timestamp = parseTimestamp(ts)
		l.TooOld = !l.Timestamp.IsZero() && now.Sub(l.Timestamp) > limits.MaxLogAge
	}
	if over := len(raw) - limits.MaxLogBytes; over > 0 {
		l.Message = truncate(l.Message, len(l.Message)-over)
		l.Truncated = true
	}
	if len(attrs) > 0 {
		rest, err := json.Marshal(attrs)
		if err != nil {
			return Log{}, fmt.Errorf("encode attributes: %w", err)
		}
		l.Attributes = rest
	}
	return l, nil
}

// takeString removes the attribute key from attrs and returns it, if it is a JSON
// string. Any other value stays in attrs, as an attribute like the others.
func takeString(attrs map[string]json.RawMessage, key string) string {
	raw, ok := attrs[key]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	delete(attrs, key)
	return s
}

// joinTags joins two comma-separated tag lists.
func joinTags(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

// parseTimestamp reads a timestamp attribute: milliseconds since the epoch, as a
// number or a string, or an RFC 3339 string. It returns the zero time for
// anything else.
func parseTimestamp(raw json.RawMessage) time.Time {
	var ms float64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return time.UnixMilli(int64(ms)).UTC()
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(n).UTC()
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return time.Time{}
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
