package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// logsPage is the body of the intake test server's GET /_intake/logs
// (ddintake.LogsPage, of which the check needs these fields only).
type logsPage struct {
	Logs []struct {
		ID      uint64 `json:"id"`
		Message string `json:"message"`
	} `json:"logs"`
	Next uint64 `json:"next"`
	More bool   `json:"more"`
}

// intakeReader reads the logs the Datadog intake test server accepted, from
// where it left off.
type intakeReader struct {
	hc    *http.Client
	base  string
	since uint64
}

// pageSize is how many logs one request asks for.
const pageSize = 5000

// poll reads the logs accepted since the last poll and counts their events
// into t. A log's message is the event's JSON; one whose message is not
// (it was truncated, or is not an event) counts as unreadable.
func (r *intakeReader) poll(ctx context.Context, t *target, published map[string]bool) error {
	for {
		u := strings.TrimRight(r.base, "/") + "/_intake/logs?" + url.Values{
			"since": {strconv.FormatUint(r.since, 10)}, "limit": {strconv.Itoa(pageSize)}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := r.hc.Do(req)
		if err != nil {
			return fmt.Errorf("read the intake's logs: %w", err)
		}
		var page logsPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("read the intake's logs: GET %s: %s", u, resp.Status)
		}
		if err != nil {
			return fmt.Errorf("read the intake's logs: decode: %w", err)
		}
		for _, l := range page.Logs {
			var ev struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(l.Message), &ev) != nil || ev.ID == "" {
				t.unreadable++
				continue
			}
			t.add(ev.ID, published[ev.ID])
		}
		r.since = page.Next
		if !page.More {
			return nil
		}
	}
}
