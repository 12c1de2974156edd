package s3sink

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// resume reads the manifests at a partition position that this writer did
// not reach itself (a new owner, a rebalance, a reset position), or that
// lies behind the recorded head (a replay), for a batch of items that
// begins there. It returns the chain head the position links to and, when
// the position lies inside a finished delivery, that delivery's last
// offset (else -1): its records are in S3 already, and any of its objects
// that went missing is written again (restore).
//
// A manifest named by the position gives the head. The first manifest
// named after the position tells whether the position lies inside a
// finished delivery. That costs a GET, a LIST and a GET, once per
// partition assignment and once per delivery of a replay. When no finished
// delivery holds the position, the partition's latest claim tells whether
// an unfinished one does (checkClaims).
func (w *Writer) resume(ctx context.Context, partition int32, start int64, items []batch.Item) (head link, through int64, err error) {
	last := items[len(items)-1].Offset
	m, err := w.getManifest(ctx, partition, start)
	switch {
	case err == nil:
		if head, err = w.manifestLink(ctx, m); err != nil {
			return link{}, -1, err
		}
	case !isNotFound(err):
		return link{}, -1, err
	}
	next, ok, err := w.manifestAfter(ctx, partition, start)
	if err != nil {
		return link{}, -1, err
	}
	if !ok {
		return w.resumeUnfinished(ctx, partition, head, items)
	}
	f, err := w.getManifest(ctx, partition, next)
	if err != nil {
		return link{}, -1, err
	}
	switch {
	case f.Start > start:
		// A later delivery: start is the partition's first position, or a
		// gap's.
		return w.resumeUnfinished(ctx, partition, head, items)
	case f.Last > last:
		return link{}, -1, &sink.NeedMoreError{Through: f.Last}
	case f.Start == start:
		// An earlier writer finished the delivery that begins here: an
		// adoption, found by its manifest, with nothing left to write; or
		// a replay.
		w.m.adoptions.Inc()
		w.log.Info("a finished delivery begins at the batch start; its records are in S3 already", "partition", partition,
			"start", start, "last", f.Last)
	default:
		w.log.Warn("the batch begins inside a finished delivery; its records are in S3 already and are skipped",
			"partition", partition, "start", start, "delivery_start", f.Start, "delivery_last", f.Last)
	}
	if err := w.restore(ctx, f, items); err != nil {
		return link{}, -1, err
	}
	l, err := w.manifestLink(ctx, f)
	return l, f.Last, err
}

// manifestLink is the link to the last object of the delivery m records.
// A manifest written by a build without chain values has none even when
// that object has one (a later build wrote the objects, an earlier one
// adopted the delivery and wrote the manifest): then the object's
// metadata gives it, so that the chain goes on as verify recomputes it.
func (w *Writer) manifestLink(ctx context.Context, m *manifest) (link, error) {
	l := link{sha256: m.Head, chain: m.Chain}
	if l.chain != "" {
		return l, nil
	}
	om, err := w.headMeta(ctx, m.Objects[len(m.Objects)-1].Key)
	switch {
	case isNotFound(err):
		return l, nil // restored from the records later, without a chain value as the manifest says
	case err != nil:
		return link{}, err
	case om.sha256 == m.Head:
		l.chain = om.chain
	}
	return l, nil
}

// resumeUnfinished finishes the unfinished delivery that holds the batch's
// first record, if there is one (findUnfinished); otherwise the batch
// begins a delivery that links to head.
func (w *Writer) resumeUnfinished(ctx context.Context, partition int32, head link, items []batch.Item) (link, int64, error) {
	u, err := w.findUnfinished(ctx, partition, items[0].Offset)
	if err != nil || u == nil {
		return head, -1, err
	}
	return w.finish(ctx, partition, u, items)
}

// restore writes again the objects of the finished delivery m that are
// missing from the bucket (deleted by a lifecycle rule or by hand while
// the manifest stayed), from items, which hold the delivery's records from
// some offset on. An object's bytes are a pure function of its records,
// so the object written again is the one the manifest lists, sha256 and
// all; it is written create-only, so an object that is there is never
// touched. An object whose first records are before the items cannot be
// rebuilt: that is logged, and left to a replay from the delivery's start.
func (w *Writer) restore(ctx context.Context, m *manifest, items []batch.Item) error {
	var d *delivery // built on the first missing object
	for i, mo := range m.Objects {
		_, err := w.headObject(ctx, mo.Key)
		if err == nil {
			continue
		}
		if !isNotFound(err) {
			return fmt.Errorf("head object %s: %w", mo.Key, w.classify(err))
		}
		if len(items) == 0 || mo.First < items[0].Offset {
			w.log.Error("an object of a finished delivery is missing and the batch does not hold its first records; "+
				"replay the partition from the delivery's start to write it again",
				"key", mo.Key, "partition", m.Partition, "delivery_start", m.Start, "object_first", mo.First)
			continue
		}
		if d == nil {
			if d, err = build(w.layout, w.enc, m.Partition, m.Start, itemsThrough(items, m.Last)); err != nil {
				return err
			}
			d.first, d.last, d.identity = m.First, m.Last, m.Identity
		}
		o := d.object(mo.First)
		if o == nil || o.key != mo.Key || o.last != mo.Last || o.records != mo.Records {
			return fmt.Errorf("object %s of the delivery %d-%d is missing, and the batch's records do not make it again", mo.Key, m.First, m.Last)
		}
		if o.sha256 != mo.SHA256 {
			return fmt.Errorf("object %s of the delivery %d-%d is missing, and the batch's records make other bytes "+
				"(sha256 %.12s, not %.12s: another build, or other redaction settings)", mo.Key, m.First, m.Last, o.sha256, mo.SHA256)
		}
		o.prev, o.chain = m.Prev, mo.Chain
		if i > 0 {
			o.prev = m.Objects[i-1].SHA256
		}
		switch err := w.putObject(ctx, d, o); {
		case err == nil:
			w.m.restored.Inc()
			w.log.Warn("an object of a finished delivery was missing; written again", "key", mo.Key, "partition", m.Partition,
				"first", mo.First, "last", mo.Last)
		case !isPreconditionFailed(err): // written meanwhile by another writer: fine
			return err
		}
	}
	return nil
}

// itemsThrough returns the items at offsets up to last.
func itemsThrough(items []batch.Item, last int64) []batch.Item {
	n := 0
	for n < len(items) && items[n].Offset <= last {
		n++
	}
	return items[:n]
}

// manifestAfter finds the first manifest of the partition named after
// position: zero-padded names list in numeric order.
func (w *Writer) manifestAfter(ctx context.Context, partition int32, position int64) (next int64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:     aws.String(w.bucket),
		Prefix:     aws.String(w.layout.manifestDir(partition)),
		StartAfter: aws.String(w.layout.manifestKey(partition, position)),
		MaxKeys:    aws.Int32(1),
	})
	if err != nil {
		return 0, false, fmt.Errorf("list manifests of partition %d: %w", partition, w.classify(err))
	}
	for _, o := range out.Contents {
		if p, next, ok := w.layout.parseManifestKey(aws.ToString(o.Key)); ok && p == partition {
			return next, true, nil
		}
	}
	return 0, false, nil
}
