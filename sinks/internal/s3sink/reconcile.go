package s3sink

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// offsetKind is what an offset of the connector topic holds, as verify
// read it from Kafka.
type offsetKind uint8

const (
	// kindData is a committed data record that is not in the DLQ: it must
	// be in exactly one object.
	kindData offsetKind = iota
	// kindDLQ is a committed data record that the sink dead-lettered (the
	// DLQ holds a record whose dlq-topic, dlq-partition and dlq-offset
	// name it).
	kindDLQ
	// kindControl is a transaction marker (commit or abort).
	kindControl
	// kindAborted is a data record of an aborted transaction: a
	// read_committed consumer (the sink) never sees it.
	kindAborted
	// kindOpen is a data record of a transaction that has not ended yet;
	// it lies past the last stable offset, where the sink has not read.
	kindOpen
)

var kindNames = [...]string{"data", "dlq", "control", "aborted", "open"}

func (k offsetKind) String() string { return kindNames[k] }

// span is a run of offsets of one kind.
type span struct {
	first, last int64
	kind        offsetKind
}

// partitionLedger is what Kafka says about one partition of the
// connector topic: every offset from the log start to the end, each of
// one kind, and the group's committed offset.
type partitionLedger struct {
	logStart, end int64 // end is the high watermark: offsets below it exist
	spans         []span
	// readTo is the offset after the last one read; below end when the
	// read stopped early.
	readTo    int64
	committed int64 // -1: none
}

// ledgerBuilder classifies offsets as they are read with read_uncommitted
// and KeepControlRecords, where every offset comes through: a
// transactional record is pending until its producer's next marker says
// whether its transaction committed or aborted.
type ledgerBuilder struct {
	spans   []span
	pending map[int64][]span // producer ID -> its open transaction's records
	readTo  int64
}

func newLedgerBuilder(from int64) *ledgerBuilder {
	return &ledgerBuilder{pending: make(map[int64][]span), readTo: from}
}

// add appends offset to spans, extending the last run when it can.
func addSpan(spans []span, off int64, k offsetKind) []span {
	if n := len(spans); n > 0 && spans[n-1].kind == k && spans[n-1].last+1 == off {
		spans[n-1].last = off
		return spans
	}
	return append(spans, span{off, off, k})
}

// record takes one record of the partition, in offset order.
// transactional and control are the batch attributes; commit is what a
// control record's key says (type 1 commits, 0 aborts).
func (b *ledgerBuilder) record(off, producer int64, transactional, control, commit bool) {
	b.readTo = off + 1
	switch {
	case control:
		k := kindAborted
		if commit {
			k = kindData
		}
		for _, s := range b.pending[producer] {
			s.kind = k
			b.spans = append(b.spans, s)
		}
		delete(b.pending, producer)
		b.spans = append(b.spans, span{off, off, kindControl})
	case transactional:
		b.pending[producer] = addSpan(b.pending[producer], off, kindOpen)
	default:
		b.spans = addSpan(b.spans, off, kindData)
	}
}

// ledger finishes the partition: transactions still open stay kindOpen,
// and the dead-lettered offsets (dlq) become kindDLQ.
func (b *ledgerBuilder) ledger(logStart, end int64, dlq map[int64]int) *partitionLedger {
	spans := b.spans
	for _, p := range b.pending {
		spans = append(spans, p...)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
	var out []span
	for _, s := range spans {
		for off := s.first; off <= s.last; {
			// Split data runs at dead-lettered offsets; other runs
			// stay whole.
			if s.kind != kindData || len(dlq) == 0 {
				out = mergeSpan(out, span{off, s.last, s.kind})
				break
			}
			k := kindData
			if dlq[off] > 0 {
				k = kindDLQ
			}
			out = mergeSpan(out, span{off, off, k})
			off++
		}
	}
	return &partitionLedger{logStart: logStart, end: end, spans: out, readTo: b.readTo, committed: -1}
}

// mergeSpan appends s, merging it into the last run when contiguous and
// of the same kind.
func mergeSpan(spans []span, s span) []span {
	if n := len(spans); n > 0 && spans[n-1].kind == s.kind && spans[n-1].last+1 == s.first {
		spans[n-1].last = s.last
		return spans
	}
	return append(spans, s)
}

// kindAt returns the kind of offset off, if it was read.
func (l *partitionLedger) kindAt(off int64) (offsetKind, bool) {
	i := sort.Search(len(l.spans), func(i int) bool { return l.spans[i].last >= off })
	if i < len(l.spans) && l.spans[i].first <= off {
		return l.spans[i].kind, true
	}
	return 0, false
}

// clip returns the runs of kind k within [first, last].
func (l *partitionLedger) clip(first, last int64, k offsetKind) []span {
	var out []span
	i := sort.Search(len(l.spans), func(i int) bool { return l.spans[i].last >= first })
	for ; i < len(l.spans) && l.spans[i].first <= last; i++ {
		s := l.spans[i]
		if s.kind == k {
			out = append(out, span{max(s.first, first), min(s.last, last), k})
		}
	}
	return out
}

// count returns how many offsets of kind k lie within [first, last].
func (l *partitionLedger) count(first, last int64, k offsetKind) int64 {
	var n int64
	for _, s := range l.clip(first, last, k) {
		n += s.last - s.first + 1
	}
	return n
}

// coverage is a delivery as the archive records it: from its manifest, or
// from its objects' metadata when no manifest confirms it.
type coverage struct {
	first, last int64
	start       int64    // the partition position it begins at
	prev, head  string   // what its first object links to; its last object's sha256
	records     int64    // what its objects hold, by their metadata or manifest
	bounds      []int64  // the first and last offsets of its objects
	key         string   // the manifest's key, or the anchor's
	confirmed   bool     // a manifest lists it
	objects     []string // its objects' keys, for messages
}

// KafkaPartition is what a PartitionReport says about Kafka.
type KafkaPartition struct {
	LogStart int64 `json:"log_start"`
	End      int64 `json:"end"` // the high watermark
	// Committed is the consumer group's committed offset (-1: none).
	Committed int64 `json:"committed"`
	// HeadLast and HeadSHA256 are the recorded head (-1 and "": none).
	HeadLast   int64  `json:"head_last"`
	HeadSHA256 string `json:"head_sha256,omitempty"`
	// From and To are the offsets reconciled: every one of them is in an
	// object, in the DLQ, a transaction marker or an aborted record.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// The kinds of the offsets from From to To.
	Data    int64 `json:"data"`
	DLQ     int64 `json:"dlq"`
	Control int64 `json:"control"`
	Aborted int64 `json:"aborted"`
	// Note says where the committed offset stands beside the head.
	Note string `json:"note,omitempty"`
}

// reconcile checks a partition's deliveries against Kafka: every data
// offset from the log start up to the head (or, without one, the
// committed offset) is in exactly one delivery, each delivery holds as
// many records as Kafka has data offsets in its range, and no object
// begins or ends on an offset that is not a data record.
func reconcile(pr *PartitionReport, l *partitionLedger, head *Head, covs []coverage) {
	problem := func(kind, key, format string, args ...any) {
		pr.Problems = append(pr.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	kp := &KafkaPartition{LogStart: l.logStart, End: l.end, Committed: l.committed, HeadLast: -1, From: l.logStart}
	pr.Kafka = kp
	sort.Slice(covs, func(i, j int) bool { return covs[i].first < covs[j].first })
	lastCovered := int64(-1)
	for _, c := range covs {
		lastCovered = max(lastCovered, c.last)
	}
	switch {
	case head != nil:
		kp.HeadLast, kp.HeadSHA256 = head.Last, head.SHA256
		kp.To = head.Last
	case l.committed > 0:
		kp.To = l.committed - 1
	default:
		kp.To = lastCovered
	}
	if kp.To >= l.end {
		problem(ProblemTruncated, "", "the head is at offset %d, but the partition ends at %d in Kafka: the topic was truncated or recreated",
			kp.To, l.end)
		kp.To = l.end - 1
	}
	if l.readTo <= kp.To {
		problem(ProblemUnchecked, "", "Kafka was read only up to offset %d of %d", l.readTo, kp.To)
		kp.To = l.readTo - 1
	}
	from, to := kp.From, kp.To
	if to >= from {
		kp.Data = l.count(from, to, kindData)
		kp.DLQ = l.count(from, to, kindDLQ)
		kp.Control = l.count(from, to, kindControl)
		kp.Aborted = l.count(from, to, kindAborted)
		if n := l.count(from, to, kindOpen); n > 0 {
			problem(ProblemGap, "", "%d offsets up to the head belong to a transaction that has not ended", n)
		}
	}
	switch {
	case l.committed < 0:
	case head != nil && l.committed <= head.Last:
		kp.Note = fmt.Sprintf("the committed offset %d is behind the head (%d): a replay or a reset; not a problem", l.committed, head.Last)
	case head != nil:
		if n := l.count(head.Last+1, l.committed-1, kindData); n > 0 {
			problem(ProblemCommitAhead, "", "the group committed offset %d, but the head is at %d: %d records between were committed and never recorded as delivered",
				l.committed, head.Last, n)
		}
	}
	if len(covs) == 0 {
		if kp.Data > 0 {
			problem(ProblemMissingPartition, "", "Kafka holds %d records at offsets %d-%d of this partition, and the bucket has no object or manifest of it",
				kp.Data, from, to)
		}
		return
	}
	// Each delivery holds as many records as Kafka has data offsets in
	// its range, when Kafka still has them all.
	for _, c := range covs {
		if c.first < l.logStart || c.last >= l.readTo {
			continue
		}
		if want := l.count(c.first, c.last, kindData); c.records != want {
			what := "records that Kafka does not have there (duplicates or foreign records)"
			if c.records < want {
				what = "fewer records than Kafka: some are in no object"
			}
			problem(ProblemCount, c.key, "delivery %d-%d holds %d records, Kafka has %d data records there (%d dead-lettered, %d markers, %d aborted): %s",
				c.first, c.last, c.records, want, l.count(c.first, c.last, kindDLQ), l.count(c.first, c.last, kindControl),
				l.count(c.first, c.last, kindAborted), what)
		}
		for _, off := range c.bounds {
			if k, ok := l.kindAt(off); ok && k != kindData {
				kind := ProblemCount
				if k == kindDLQ {
					kind = ProblemDLQOverlap
				}
				problem(kind, c.key, "an object of delivery %d-%d begins or ends at offset %d, which Kafka holds as %s, not a data record",
					c.first, c.last, off, k)
			}
		}
	}
	if to < from {
		return
	}
	// Data offsets up to the head that no delivery covers.
	var gaps []span
	next := from
	for _, c := range covs {
		if c.first > next {
			gaps = append(gaps, l.clip(next, min(c.first-1, to), kindData)...)
		}
		next = max(next, c.last+1)
	}
	tailFrom := next
	for _, g := range gaps {
		if g.first > to {
			break
		}
		problem(ProblemGap, "", "offsets %d-%d: %d records in Kafka and in no object", g.first, g.last, g.last-g.first+1)
	}
	if tailFrom <= to {
		if n := l.count(tailFrom, to, kindData); n > 0 {
			problem(ProblemTruncated, "", "the archive ends at offset %d, but %d records up to offset %d are %s: the tail was dropped",
				tailFrom-1, n, to, tailWitness(head))
		}
	}
}

// tailWitness says what recorded the end of the archive.
func tailWitness(head *Head) string {
	if head != nil {
		return "recorded as delivered by the head"
	}
	return "committed by the consumer group"
}

// checkHead compares the archive's chain with the head recorded outside
// the bucket: the delivery that ends at the head's offset must exist, and
// its last object must have the head's sha256, in the manifest, in its
// metadata and in its bytes.
func checkHead(pr *PartitionReport, head Head, manifests []*manifest, byKey map[string]*stored, reconciled bool) {
	problem := func(kind, key, format string, args ...any) {
		pr.Problems = append(pr.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	lastConfirmed := int64(-1)
	for _, m := range manifests {
		lastConfirmed = max(lastConfirmed, m.Last)
		if m.Last != head.Last {
			continue
		}
		if m.Head != head.SHA256 {
			problem(ProblemHeadMismatch, head.Manifest, "the head recorded outside the bucket says offset %d ends with sha256 %s; the bucket's manifest says %s: the archive was rewritten",
				head.Last, head.SHA256, m.Head)
			return
		}
		if head.Chain != "" && m.Chain != "" && m.Chain != head.Chain {
			problem(ProblemHeadMismatch, head.Manifest, "the head recorded outside the bucket says offset %d ends with chain value %s; the bucket's manifest says %s: the archive was rewritten",
				head.Last, head.Chain, m.Chain)
			return
		}
		last := m.Objects[len(m.Objects)-1].Key
		if o, ok := byKey[last]; ok {
			switch {
			case o.metaErr == nil && o.meta.sha256 != head.SHA256:
				problem(ProblemHeadMismatch, last, "the head says sha256 %s, the object's metadata %s", head.SHA256, o.meta.sha256)
			case o.sha256 != head.SHA256:
				problem(ProblemHeadMismatch, last, "the head says sha256 %s, the object's bytes hash to %s: the archive was rewritten", head.SHA256, o.sha256)
			case head.Chain != "" && o.chained && o.chain != head.Chain:
				// The running chain value depends on every object before:
				// a consistent rewrite of any of them shows here.
				problem(ProblemHeadMismatch, head.Manifest, "the head says offset %d ends with chain value %s; recomputed from the objects' bytes it is %s "+
					"(\"\" when the chain begins again after an object without a chain value): an object before it was rewritten, "+
					"with its sha256 and links recomputed", head.Last, head.Chain, o.chain)
			}
		}
		return
	}
	if lastConfirmed < head.Last {
		// The Kafka reconciliation names the dropped offsets.
		if !reconciled {
			problem(ProblemTruncated, head.Manifest, "the head recorded outside the bucket is at offset %d, the archive's last delivery ends at %d: the tail was dropped",
				head.Last, lastConfirmed)
		}
		return
	}
	problem(ProblemHeadMismatch, head.Manifest, "no delivery of the archive ends at the head's offset %d (sha256 %s): the deliveries were rewritten",
		head.Last, head.SHA256)
}

// describeKeys lists a few keys for a message.
func describeKeys(keys []string) string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if len(keys) > 3 {
		return strings.Join(keys[:3], ", ") + fmt.Sprintf(" and %d more", len(keys)-3)
	}
	return strings.Join(keys, ", ")
}
