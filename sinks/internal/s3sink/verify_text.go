package s3sink

import (
	"fmt"
	"io"
)

// WriteText writes the report for a person: a summary, one line per
// partition, and every problem.
func (r *Report) WriteText(w io.Writer) error {
	pw := &errWriter{w: w}
	pw.printf("bucket %s, prefix %q, connector %s", r.Bucket, r.Prefix, r.Connector)
	if r.Versioned {
		pw.printf(" (versioned: every version and delete marker checked)")
	}
	pw.printf("\n")
	if r.Topic != "" {
		pw.printf("reconciled with topic %s (%s), heads from %s\n", r.Topic, r.Identity, r.HeadsTopic)
	} else {
		pw.printf("not reconciled with Kafka: the bucket alone was checked\n")
	}
	pw.printf("%d objects, %d events, %d manifests\n", r.Objects, r.Events, r.Manifests)
	for _, p := range r.Partitions {
		pw.printf("partition %d: %d objects, %d events, %d deliveries", p.Partition, p.Objects, p.Events, p.Deliveries)
		if p.FirstOffset >= 0 {
			pw.printf(", offsets %d-%d", p.FirstOffset, p.LastOffset)
		}
		if k := p.Kafka; k != nil {
			pw.printf("; kafka %d-%d reconciled (%d data, %d dead-lettered, %d markers, %d aborted), head %d, committed %d",
				k.From, k.To, k.Data, k.DLQ, k.Control, k.Aborted, k.HeadLast, k.Committed)
		}
		pw.printf("\n")
		if p.Kafka != nil && p.Kafka.Note != "" {
			pw.printf("  note: %s\n", p.Kafka.Note)
		}
		if len(p.InProgress) > 0 {
			pw.printf("  %d objects of a delivery in progress (not problems): %s\n", len(p.InProgress), describeKeys(p.InProgress))
		}
		if p.NoChainValue > 0 {
			pw.printf("  %d objects without a chain value (written before chain values; not checked for it, not problems)\n", p.NoChainValue)
		}
		for _, pr := range p.Problems {
			pw.printf("  PROBLEM %s %s: %s\n", pr.Kind, pr.Key, pr.Detail)
		}
	}
	for _, g := range r.Generations {
		pw.printf("another generation of the topic, topic ID %s (checked on its own, not reconciled):\n", g.TopicID)
		for _, p := range g.Partitions {
			pw.printf("  partition %d: %d objects, %d events, %d deliveries\n", p.Partition, p.Objects, p.Events, p.Deliveries)
			for _, pr := range p.Problems {
				pw.printf("    PROBLEM %s %s: %s\n", pr.Kind, pr.Key, pr.Detail)
			}
		}
	}
	for _, pr := range r.BucketProblems {
		pw.printf("PROBLEM %s %s: %s\n", pr.Kind, pr.Key, pr.Detail)
	}
	if len(r.Expected) > 0 {
		pw.printf("%d expected keys and versions, not problems:\n", len(r.Expected))
		for _, e := range r.Expected {
			pw.printf("  %s\n", e)
		}
	}
	if r.OK() {
		pw.printf("OK: no problem found\n")
	} else {
		pw.printf("%d problems found\n", r.Problems)
	}
	return pw.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
