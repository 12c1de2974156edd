package status

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Text writes the report for a terminal.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "auditstream status at %s\n", r.At.Format(time.RFC3339))
	if rt := r.Router; rt != nil {
		fmt.Fprintf(w, "\nrouter  group %s on %s\n", rt.Name, rt.Topic)
		writeGroup(w, rt.Group)
		writeService(w, rt.Service, rt.Replicas)
		if rt.TxPerSecond != nil {
			fmt.Fprintf(w, "  transactions: %.1f/s committed, %.0f aborted since start\n", *rt.TxPerSecond, *rt.TxAborted)
		}
		writeDLQ(w, rt.DLQ)
	}
	for _, c := range r.Connectors {
		fmt.Fprintf(w, "\nconnector %s (%s)  group %s on %s\n", c.ID, c.Type, c.Name, c.Topic)
		fmt.Fprintf(w, "  filter: %s\n", strings.ReplaceAll(c.Filter, "\n", "; "))
		writeGroup(w, c.Group)
		writeService(w, c.Service, c.Replicas)
		if c.LastWrite != nil {
			fmt.Fprintf(w, "  last write: %s (%s ago, from %s)\n", c.LastWrite.Format(time.RFC3339),
				r.At.Sub(*c.LastWrite).Round(time.Second), c.LastWriteFrom)
		} else {
			fmt.Fprintf(w, "  last write: %s\n", c.LastWriteFrom)
		}
		writeDLQ(w, c.DLQ)
	}
	bound := ""
	if r.DLQBounded {
		bound = " (the newest records of each partition only)"
	}
	fmt.Fprintf(w, "\ndead letters counted from %d records of the dead-letter topic%s\n", r.DLQScanned, bound)
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "\nnot read:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s: %s\n", k, r.Errors[k])
		}
	}
}

func writeGroup(w io.Writer, g Group) {
	approx := ""
	if g.LagApprox {
		approx = " (approximate: counted in offsets)"
	}
	fmt.Fprintf(w, "  lag: %d%s", g.Lag, approx)
	if len(g.Partitions) > 0 {
		parts := make([]string, len(g.Partitions))
		for i, p := range g.Partitions {
			c := fmt.Sprint(p.Committed)
			if p.Committed < 0 {
				c = "none"
			}
			parts[i] = fmt.Sprintf("p%d %d (committed %s, end %d)", p.Partition, p.Lag, c, p.End)
		}
		fmt.Fprintf(w, "  [%s]", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	state := g.State
	if state == "" {
		state = "unknown"
	}
	fmt.Fprintf(w, "  members: %d (%s)\n", len(g.Members), state)
	for _, m := range g.Members {
		fmt.Fprintf(w, "    %s %s partitions %v\n", m.ClientID, m.Host, m.Partitions)
	}
}

func writeService(w io.Writer, s Service, replicas []Service) {
	if len(replicas) > 1 {
		fmt.Fprintf(w, "  replicas: %d\n", len(replicas))
		for _, r := range replicas {
			writeOne(w, "    ", r)
		}
		return
	}
	writeOne(w, "  ", s)
}

func writeOne(w io.Writer, indent string, s Service) {
	fmt.Fprint(w, indent)
	switch {
	case s.Ready != nil && *s.Ready:
		fmt.Fprintf(w, "ready: yes (%s/readyz)\n", s.Admin)
	case s.Ready != nil:
		fmt.Fprintf(w, "ready: NO (%s/readyz): %s\n", s.Admin, s.ReadyDetail)
	case s.Admin != "":
		fmt.Fprintf(w, "ready: unknown (%s unreachable: %s)\n", s.Admin, s.Unreachable)
	default:
		fmt.Fprintf(w, "ready: unknown (%s)\n", s.Unreachable)
	}
}

func writeDLQ(w io.Writer, counts map[string]int64) {
	if len(counts) == 0 {
		fmt.Fprintln(w, "  dead letters: none")
		return
	}
	reasons := make([]string, 0, len(counts))
	for k := range counts {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	fmt.Fprintf(w, "  dead letters: %s\n", strings.Join(parts, ", "))
}
