// Package check holds what a chaos run delivered up against its ledger:
// each connector's ids against the ids whose own value its filter matches,
// and the dead-letter topic against the bad records sent.
package check

import (
	"slices"
	"sort"
)

// Delivery is one connector's outcome.
type Delivery struct {
	Connector string `json:"connector"`
	Type      string `json:"type"`
	Expected  int    `json:"expected"`
	Delivered int    `json:"delivered"` // distinct expected ids found
	Lost      int    `json:"lost"`
	// Duplicated counts ids found more than once; Copies the extra copies.
	Duplicated int `json:"duplicated"`
	Copies     int `json:"extra_copies"`
	// Leaked counts ids found that the connector must not have: events its
	// filter rejects, and ids of bad records.
	Leaked      int      `json:"leaked"`
	LostIDs     []string `json:"lost_sample,omitempty"`
	LeakedIDs   []string `json:"leaked_sample,omitempty"`
	DupIDs      []string `json:"duplicated_sample,omitempty"`
	VerifyOK    *bool    `json:"verify_ok,omitempty"`
	VerifyError string   `json:"verify_error,omitempty"`
}

// sample is how many ids a report quotes of each kind.
const sample = 5

// Compare holds got (id -> copies) against want (the ids that must be
// there).
func Compare(connector, typ string, want map[string]bool, got map[string]int) Delivery {
	d := Delivery{Connector: connector, Type: typ, Expected: len(want)}
	for id := range want {
		if got[id] == 0 {
			d.Lost++
			d.LostIDs = append(d.LostIDs, id)
		}
	}
	for id, n := range got {
		if !want[id] {
			d.Leaked++
			d.LeakedIDs = append(d.LeakedIDs, id)
			continue
		}
		d.Delivered++
		if n > 1 {
			d.Duplicated++
			d.Copies += n - 1
			d.DupIDs = append(d.DupIDs, id)
		}
	}
	d.LostIDs, d.LeakedIDs, d.DupIDs = first(d.LostIDs), first(d.LeakedIDs), first(d.DupIDs)
	return d
}

func first(ids []string) []string {
	sort.Strings(ids)
	return slices.Clip(ids[:min(len(ids), sample)])
}

// DeadLetter is a record read from the dead-letter topic.
type DeadLetter struct {
	Key    string
	Reason string
	Stage  string
}

// BadRecord is a bad record of the ledger.
type BadRecord struct {
	Key    string
	Kind   string
	Reason string
}

// DLQ is the dead-letter topic's outcome.
type DLQ struct {
	Expected     int `json:"expected"`
	DeadLettered int `json:"dead_lettered"` // expected keys found with their reason
	Missing      int `json:"missing"`
	WrongReason  int `json:"wrong_reason"`
	Duplicated   int `json:"duplicated"`
	// Unexpected counts dead letters of no bad record, by stage and reason:
	// a good event dead-lettered, or a sink's filter_mismatch.
	Unexpected map[string]int `json:"unexpected,omitempty"`
	// ByKind counts the expected dead letters found, by bad-record kind.
	ByKind       map[string]int `json:"by_kind"`
	MissingKeys  []string       `json:"missing_sample,omitempty"`
	WrongReasons []string       `json:"wrong_reason_sample,omitempty"`
}

// CompareDLQ holds the dead letters against the bad records sent.
func CompareDLQ(bad []BadRecord, got []DeadLetter) DLQ {
	d := DLQ{Expected: len(bad), ByKind: map[string]int{}}
	byKey := map[string][]DeadLetter{}
	for _, g := range got {
		byKey[g.Key] = append(byKey[g.Key], g)
	}
	want := map[string]bool{}
	for _, b := range bad {
		want[b.Key] = true
		ls := byKey[b.Key]
		switch {
		case len(ls) == 0:
			d.Missing++
			d.MissingKeys = append(d.MissingKeys, b.Key)
			continue
		case len(ls) > 1:
			d.Duplicated++
		}
		if ls[0].Reason != b.Reason {
			d.WrongReason++
			d.WrongReasons = append(d.WrongReasons, b.Key+": "+b.Kind+" got "+ls[0].Reason+", want "+b.Reason)
			continue
		}
		d.DeadLettered++
		d.ByKind[b.Kind]++
	}
	for _, g := range got {
		if !want[g.Key] {
			if d.Unexpected == nil {
				d.Unexpected = map[string]int{}
			}
			d.Unexpected[g.Stage+" "+g.Reason]++
		}
	}
	d.MissingKeys, d.WrongReasons = first(d.MissingKeys), first(d.WrongReasons)
	return d
}
