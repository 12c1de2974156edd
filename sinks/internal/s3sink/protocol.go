package s3sink

import (
	"context"
	"fmt"

	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// deliver writes items (non-empty, ascending offsets) as one delivery that
// begins at start and links to head, or finishes the delivery an earlier
// writer claimed at the same first record. It returns the offset of the
// delivery's last record, which is before the last item when the adopted
// delivery was shorter (the caller delivers the rest next), and the link
// the next delivery links to.
func (w *Writer) deliver(ctx context.Context, partition int32, start int64, items []batch.Item, head link) (last int64, next link, err error) {
	d, err := w.build(partition, start, items)
	if err != nil {
		return 0, link{}, err
	}
	d.chain(head)
	if err := w.claim(ctx, d); err != nil {
		return 0, link{}, err
	}
	err = w.putObject(ctx, d, d.anchor())
	switch {
	case err == nil:
		if head.sha256 == "" {
			w.log.Info("no manifest at the batch start (the partition's first delivery, or a reset position): a new hash chain begins",
				"partition", partition, "start", start, "key", d.anchor().key)
		}
	case isPreconditionFailed(err):
		// An earlier writer claimed this first record: a crashed or zombie
		// owner of the partition, or a concurrent one. Its anchor says
		// which records it claimed.
		stored, err := w.headMeta(ctx, d.anchor().key)
		if err != nil {
			return 0, link{}, err
		}
		if stored.connector != d.connector || stored.partition != d.partition || stored.first != d.first {
			return 0, link{}, fmt.Errorf("object %s holds %s of connector %s partition %d, not what its key says",
				d.anchor().key, stored.describe(), stored.connector, stored.partition)
		}
		if stored.batchFirst != d.first {
			return w.skipFinished(ctx, d, stored)
		}
		if d, err = w.adopt(d, items, stored); err != nil {
			return 0, link{}, err
		}
	default:
		return 0, link{}, err
	}
	if err := w.complete(ctx, d); err != nil {
		return 0, link{}, err
	}
	if err := w.putManifest(ctx, d); err != nil {
		return 0, link{}, err
	}
	w.log.Debug("delivery written", "partition", d.partition, "first", d.first, "last", d.last,
		"objects", len(d.objects), "events", d.records())
	return d.last, linkTo(d.objects[len(d.objects)-1]), nil
}

// build makes the delivery of items that begins at start, recording the
// writer's topic identity.
func (w *Writer) build(partition int32, start int64, items []batch.Item) (*delivery, error) {
	d, err := build(w.layout, w.enc, partition, start, items)
	if err != nil {
		return nil, err
	}
	d.identity = w.identity
	return d, nil
}

// adopt rebuilds the delivery an earlier writer claimed with the anchor
// described by stored, from the batch's records. Built from the same
// records, its objects are the earlier writer's, byte for byte when both
// run the same build. It asks for a longer batch when the delivery runs
// past the items.
func (w *Writer) adopt(ours *delivery, items []batch.Item, stored objectMeta) (*delivery, error) {
	if stored.batchLast > ours.last {
		w.log.Info("an earlier writer's delivery runs past the batch; waiting for more records",
			"partition", ours.partition, "first", ours.first, "batch_last", ours.last, "delivery_last", stored.batchLast)
		return nil, &sink.NeedMoreError{Through: stored.batchLast}
	}
	n := 0
	for n < len(items) && items[n].Offset <= stored.batchLast {
		n++
	}
	if items[n-1].Offset != stored.batchLast {
		return nil, fmt.Errorf("anchor %s claims offsets %d-%d, but the batch has no record at offset %d",
			ours.anchor().key, stored.batchFirst, stored.batchLast, stored.batchLast)
	}
	d, err := w.build(ours.partition, stored.batchStart, items[:n])
	if err != nil {
		return nil, err
	}
	a := d.anchor()
	if ours.anchor().prev != stored.prev {
		w.log.Warn("the adopted anchor links to another chain head than this writer found at the batch start",
			"key", a.key, "stored_prev", stored.prev, "head", ours.anchor().prev)
	}
	// The chain continues from the anchor as stored: its link, and its
	// chain value ("" when a build without chain values wrote it).
	a.prev, a.chain = stored.prev, stored.chain
	if want := metaOf(d, a); !want.sameRecords(stored) {
		return nil, fmt.Errorf("anchor %s holds %s, but the batch's records make %s", a.key, stored.describe(), want.describe())
	}
	if a.sha256 != stored.sha256 {
		w.log.Warn("the adopted anchor holds the same records in other bytes (another build, or other redaction settings)",
			"key", a.key, "stored_sha256", stored.sha256, "sha256", a.sha256)
		a.sha256 = stored.sha256
	}
	w.m.adoptions.Inc()
	w.log.Info("adopting a delivery begun by an earlier writer", "partition", d.partition,
		"first", d.first, "last", d.last, "batch_last", ours.last, "objects", len(d.objects))
	return d, nil
}

// complete writes d's objects after the anchor, in order, each linked to
// the one before it as stored. An object that exists already (written by
// an earlier attempt, or by a concurrent writer) must hold the same records
// with the same link; then it stays as it is.
func (w *Writer) complete(ctx context.Context, d *delivery) error {
	for i := 1; i < len(d.objects); i++ {
		o := d.objects[i]
		o.prev = d.objects[i-1].sha256
		o.chain = runningChain(d.objects[i-1].chain, o.sha256)
		err := w.putObject(ctx, d, o)
		if err == nil {
			continue
		}
		if !isPreconditionFailed(err) {
			return err
		}
		stored, err := w.headMeta(ctx, o.key)
		if err != nil {
			return err
		}
		want := metaOf(d, o)
		if stored.batchFirst < d.first && stored.batchLast >= d.first {
			return insideUnfinished(d, stored)
		}
		if !stored.sameRecords(want) || stored.prev != want.prev {
			return fmt.Errorf("object %s exists but does not match delivery %s: it holds %s; the delivery puts %s there",
				o.key, d, stored.describe(), want.describe())
		}
		if stored.sha256 != want.sha256 {
			w.log.Warn("an object written earlier holds the same records in other bytes (another build, or other redaction settings)",
				"key", o.key, "stored_sha256", stored.sha256, "sha256", want.sha256)
			o.sha256 = stored.sha256
		}
		// The chain value as stored: recomputed from its stored sha256, or
		// "" when a build without chain values wrote it.
		if c := runningChain(d.objects[i-1].chain, stored.sha256); stored.chain != "" && stored.chain != c {
			return fmt.Errorf("object %s exists but its chain-sha256 %.12s is not %.12s, the chain value its link and bytes give",
				o.key, stored.chain, c)
		}
		o.chain = stored.chain
	}
	return nil
}

// skipFinished handles a batch whose first record is the first record of
// an object of a delivery that began before the batch: the consumer's
// position was moved by hand, or expired and reset, into the middle of a
// delivery. (Write's resume catches most such positions before any write,
// from the manifests; this catches the rest.) When that delivery is
// finished, its records are in S3 already and are skipped. An unfinished
// one cannot be finished without its first records, so the batch fails
// with an error that says where to resume.
func (w *Writer) skipFinished(ctx context.Context, ours *delivery, stored objectMeta) (last int64, next link, err error) {
	if stored.batchFirst > ours.first {
		return 0, link{}, fmt.Errorf("object %s holds %s, which begins after the object's own first record",
			ours.anchor().key, stored.describe())
	}
	if stored.batchLast > ours.last {
		return 0, link{}, &sink.NeedMoreError{Through: stored.batchLast}
	}
	m, err := w.getManifest(ctx, ours.partition, stored.batchLast+1)
	switch {
	case isNotFound(err):
		return 0, link{}, insideUnfinished(ours, stored)
	case err != nil:
		return 0, link{}, err
	case m.First != stored.batchFirst:
		return 0, link{}, fmt.Errorf("manifest of offsets %d-%d does not match the anchor of delivery %d-%d",
			m.First, m.Last, stored.batchFirst, stored.batchLast)
	}
	w.log.Warn("the batch begins inside a finished delivery; its records are in S3 already and are skipped",
		"partition", ours.partition, "batch_first", ours.first, "delivery_first", stored.batchFirst, "delivery_last", stored.batchLast)
	next, err = w.manifestLink(ctx, m)
	return stored.batchLast, next, err
}

// insideUnfinished is the error of a batch that begins inside a delivery,
// described by one of its objects' metadata, that began before the batch
// and has no manifest yet.
func insideUnfinished(ours *delivery, stored objectMeta) error {
	return fmt.Errorf("the batch begins at offset %d, inside the unfinished delivery %d-%d of partition %d; "+
		"only a writer that holds its records from offset %d can finish it (reset the partition's offset to %d)",
		ours.first, stored.batchFirst, stored.batchLast, ours.partition, stored.batchStart, stored.batchStart)
}
