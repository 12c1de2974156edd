package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// verdict is the check's whole answer.
type verdict struct {
	Published int `json:"published"`
	// Nowhere counts published events that no connector's filter matches.
	Nowhere    int      `json:"routed_nowhere"`
	Connectors []result `json:"connectors"`
	// Errors are destinations that could not be read.
	Errors []string `json:"errors,omitempty"`
}

func (v verdict) ok() bool {
	if len(v.Errors) > 0 {
		return false
	}
	for _, r := range v.Connectors {
		if len(r.Problems) > 0 {
			return false
		}
	}
	return true
}

func (v verdict) text(w io.Writer) {
	fmt.Fprintf(w, "published by this run: %d events; %d of them match no connector's filter\n\n", v.Published, v.Nowhere)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "connector\ttype\tfilter matches\tdelivered\tmissing\tunexpected\tduplicates\t")
	for _, r := range v.Connectors {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", r.Connector, r.Type, r.Expected, r.Delivered, r.Missing, r.Unexpected, r.Duplicates)
	}
	tw.Flush()
	fmt.Fprintln(w, "(S3 is exactly-once: a duplicate there is a problem; Datadog is at-least-once: duplicates are allowed)")
	for _, r := range v.Connectors {
		if r.Example != "" {
			fmt.Fprintf(w, "\nan object of %s: %s\none of its lines:\n%s\n", r.Connector, r.Example, r.Line)
			break
		}
	}
	fmt.Fprintln(w)
	for _, r := range v.Connectors {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "PROBLEM %s: %s\n", r.Connector, p)
		}
	}
	for _, e := range v.Errors {
		fmt.Fprintf(w, "PROBLEM could not read: %s\n", e)
	}
	if v.ok() {
		fmt.Fprintln(w, "completeness: OK: every published event is in every connector whose filter matches it, and in no other")
	} else {
		fmt.Fprintln(w, "completeness: FAILED")
	}
}
