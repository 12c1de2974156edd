package main

import (
	"fmt"
	"slices"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
)

// target is one connector: what its filter selects from the published
// events, and what was found at its destination.
type target struct {
	id  string
	typ config.ConnectorType
	// want holds the ids of the published events that the connector's
	// filter matches.
	want map[string]bool
	// seen counts the copies found at the destination of each published
	// event, matched or not.
	seen map[string]int
	// earlier counts records of events this run did not publish: the same
	// bucket directories and intake hold earlier runs' events too.
	earlier int
	// unreadable counts records whose event id could not be read.
	unreadable int
	example    *example
}

// example is one stored record, for the summary.
type example struct {
	where string // s3://bucket/key
	line  string
}

// targets applies each connector's filter to every published event, the
// way the router does: filter.Rule.Match on the event's project, action
// and tenants.
func targets(p *config.Pipeline, evs []event) ([]*target, error) {
	var ts []*target
	for _, c := range p.Connectors {
		rule, err := filter.New(c.Filter)
		if err != nil {
			return nil, fmt.Errorf("connector %s: filter: %w", c.ID, err)
		}
		t := &target{id: c.ID, typ: c.Type, want: make(map[string]bool), seen: make(map[string]int)}
		for _, ev := range evs {
			if rule.Match(ev.meta) {
				t.want[ev.id] = true
			}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// add counts one record found at the target's destination. published tells
// whether this run published the event.
func (t *target) add(id string, published bool) {
	if !published {
		t.earlier++
		return
	}
	t.seen[id]++
}

// complete reports whether every event the filter matches was found.
func (t *target) complete() bool {
	for id := range t.want {
		if t.seen[id] == 0 {
			return false
		}
	}
	return true
}

// result is the verdict on one connector.
type result struct {
	Connector string `json:"connector"`
	Type      string `json:"type"`
	// Expected is how many published events the connector's filter matches.
	Expected int `json:"expected"`
	// Delivered is how many of them were found at the destination.
	Delivered int `json:"delivered"`
	Missing   int `json:"missing"`
	// Unexpected counts published events found there that the filter does
	// not match.
	Unexpected int `json:"unexpected"`
	// Duplicates counts extra copies of published events. S3 is
	// exactly-once, so any is a problem; Datadog is at-least-once.
	Duplicates int `json:"duplicates"`
	// Earlier counts records of events this run did not publish.
	Earlier  int      `json:"earlier_runs"`
	Problems []string `json:"problems,omitempty"`
	Example  string   `json:"example,omitempty"`
	Line     string   `json:"example_line,omitempty"`
}

// maxNamed is how many ids a problem names.
const maxNamed = 3

// evaluate turns what was found into a verdict.
func (t *target) evaluate() result {
	r := result{Connector: t.id, Type: string(t.typ), Expected: len(t.want), Earlier: t.earlier}
	var missing, unexpected, duplicated []string
	for id := range t.want {
		if t.seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range t.seen {
		if !t.want[id] {
			unexpected = append(unexpected, id)
		}
		if n > 1 {
			r.Duplicates += n - 1
			duplicated = append(duplicated, id)
		}
	}
	r.Missing, r.Unexpected = len(missing), len(unexpected)
	r.Delivered = r.Expected - r.Missing
	if len(missing) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d matching events missing, e.g. %s", len(missing), named(missing)))
	}
	if len(unexpected) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d events that the filter does not match were delivered, e.g. %s", len(unexpected), named(unexpected)))
	}
	if t.unreadable > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d records whose event could not be read", t.unreadable))
	}
	if t.typ == config.TypeS3 && len(duplicated) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d events stored more than once, e.g. %s", len(duplicated), named(duplicated)))
	}
	if t.example != nil {
		r.Example, r.Line = t.example.where, t.example.line
	}
	return r
}

// named lists a few ids, in a stable order.
func named(ids []string) string {
	slices.Sort(ids)
	if len(ids) > maxNamed {
		return fmt.Sprintf("%v and %d more", ids[:maxNamed], len(ids)-maxNamed)
	}
	return fmt.Sprint(ids)
}
