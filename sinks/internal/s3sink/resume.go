package s3sink

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// resume reads the manifests at a partition position that this writer did
// not reach itself (a new owner, a rebalance, a reset position) for a batch
// that begins there and ends at last. It returns the chain head the
// position links to and, when the position lies inside a finished
// delivery, that delivery's last offset (else -1): its records are in S3
// already.
//
// Normally a manifest is named by the position, and gives the head.
// Otherwise the position is either the partition's very first one, or it
// was moved (by hand, or reset after the group's offsets expired) and may
// lie inside a delivery: the first manifest named after the position tells
// which. That costs a LIST and a GET, once per partition assignment that
// starts off a delivery boundary.
func (w *Writer) resume(ctx context.Context, partition int32, start, last int64) (head string, through int64, err error) {
	m, err := w.getManifest(ctx, partition, start)
	switch {
	case err == nil:
		return m.Head, -1, nil
	case !isNotFound(err):
		return "", -1, err
	}
	next, ok, err := w.manifestAfter(ctx, partition, start)
	if err != nil || !ok {
		return "", -1, err
	}
	if m, err = w.getManifest(ctx, partition, next); err != nil {
		return "", -1, err
	}
	switch {
	case m.Start > start:
		return "", -1, nil // a later delivery: start is the partition's first position, or a gap's
	case m.Last > last:
		return "", -1, &sink.NeedMoreError{Through: m.Last}
	case m.Start == start:
		// An earlier writer finished the delivery that begins here: an
		// adoption, found by its manifest, with nothing left to write.
		w.m.adoptions.Inc()
		w.log.Info("adopting a finished delivery begun by an earlier writer", "partition", partition,
			"start", start, "last", m.Last)
	default:
		w.log.Warn("the batch begins inside a finished delivery; its records are in S3 already and are skipped",
			"partition", partition, "start", start, "delivery_start", m.Start, "delivery_last", m.Last)
	}
	return m.Head, m.Last, nil
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
