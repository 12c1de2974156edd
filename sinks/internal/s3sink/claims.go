package s3sink

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// claimRecord says that a writer was about to claim the delivery whose
// first record is at First with the anchor at Anchor. It is written
// before the anchor, create-only, at layout.claimKey: the anchor's key
// depends on its record's project and hour, so a writer could not find
// an unfinished delivery of a partition from the partition and an offset
// alone; the claims, listed newest first, let it.
type claimRecord struct {
	Connector string `json:"connector"`
	Partition int32  `json:"partition"`
	First     int64  `json:"first"`
	Anchor    string `json:"anchor"`
	Identity
}

// claim records d's claim before its anchor is written. Its bytes depend
// only on the anchor, so a claim already there (a 412) is the same one.
func (w *Writer) claim(ctx context.Context, d *delivery) error {
	key := w.layout.claimKey(d.partition, d.first)
	body, err := json.Marshal(claimRecord{Connector: d.connector, Partition: d.partition, First: d.first, Anchor: d.anchor().key, Identity: d.identity})
	if err != nil {
		return fmt.Errorf("marshal claim: %w", err)
	}
	err = w.put(ctx, w.putInput(key, append(body, '\n'), "application/json", nil, true))
	if err == nil || isPreconditionFailed(err) {
		return nil
	}
	return fmt.Errorf("put claim %s: %w", key, w.classify(err))
}

// checkClaims fails when the partition's latest claim before first (the
// batch's first record) is a delivery that holds first and is unfinished:
// a writer claimed it and stopped, and then retention deleted its first
// records, or an operator moved the group into it. Writing the batch as a
// new delivery would put its records a second time, next to the ones the
// stopped writer put; finishing that delivery needs its records from its
// start. Only an operator can choose (see the README, "A reset or
// retention inside an unfinished delivery"), so the error is an
// UnauthorizedError: retried slowly, the sink not ready.
//
// Deliveries written before claims were recorded have none; a position
// inside one of those is caught as before, when an object meets one of
// the earlier delivery's (Writer.complete).
func (w *Writer) checkClaims(ctx context.Context, partition int32, first int64) error {
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.ListObjectsV2(cctx, &s3.ListObjectsV2Input{
		Bucket:     aws.String(w.bucket),
		Prefix:     aws.String(w.layout.claimDir(partition)),
		StartAfter: aws.String(w.layout.claimKey(partition, first)),
		MaxKeys:    aws.Int32(1),
	})
	if err != nil {
		return fmt.Errorf("list claims of partition %d: %w", partition, w.classify(err))
	}
	if len(out.Contents) == 0 {
		return nil
	}
	key := aws.ToString(out.Contents[0].Key)
	if _, ok := w.layout.parseClaimKey(partition, key); !ok {
		return nil
	}
	body, _, err := w.get(ctx, key, 64<<10)
	if err != nil {
		return err
	}
	var c claimRecord
	if err := json.Unmarshal(body, &c); err != nil {
		return fmt.Errorf("decode claim %s: %w", key, err)
	}
	if err := w.sameIdentity("claim "+key, c.Identity); err != nil {
		return err
	}
	stored, err := w.headMeta(ctx, c.Anchor)
	switch {
	case isNotFound(err):
		return nil // the writer stopped before its anchor: nothing was claimed
	case err != nil:
		return err
	case stored.batchLast < first:
		return nil
	}
	switch _, err := w.getManifest(ctx, partition, stored.batchLast+1); {
	case err == nil:
		return nil // finished
	case !isNotFound(err):
		return err
	}
	return &sink.UnauthorizedError{Err: fmt.Errorf(
		"the batch begins at offset %d, inside the unfinished delivery %d-%d of partition %d (anchor %s): a writer claimed it "+
			"and stopped before its manifest, and then retention deleted its first records or the group's offset was moved "+
			"into it. Writing the batch would put again what that writer put. If the records from offset %d are still in "+
			"Kafka, reset the partition's offset to %d (partition %d of the group); otherwise see the README, \"A reset or retention inside "+
			"an unfinished delivery\"", first, stored.batchFirst, stored.batchLast, partition, c.Anchor,
		stored.batchStart, stored.batchStart, partition)}
}
