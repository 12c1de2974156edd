package s3sink

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// claimRecord says that a writer was about to claim the delivery whose
// first record is at First with the anchor at Anchor, and what it planned
// to write. It is written
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
	// The delivery as its writer planned it: what a later writer needs to
	// finish it without its first records (Writer.finish).
	Start   int64            `json:"start"`
	Last    int64            `json:"last"`
	Prev    string           `json:"prev"`
	Objects []manifestObject `json:"objects"`
}

// claim records d's claim before its anchor is written, with d's objects
// as planned (d.chain done). A claim already there (a 412) was written by
// a writer that raced for the same anchor; finish trusts a claim only when
// it agrees with the anchor that won.
func (w *Writer) claim(ctx context.Context, d *delivery) error {
	key := w.layout.claimKey(d.partition, d.first)
	m := manifestOf(d)
	body, err := json.Marshal(claimRecord{Connector: d.connector, Partition: d.partition, First: d.first, Anchor: d.anchor().key,
		Identity: d.identity, Start: d.start, Last: d.last, Prev: m.Prev, Objects: m.Objects})
	if err != nil {
		return fmt.Errorf("marshal claim: %w", err)
	}
	err = w.put(ctx, w.putInput(key, append(body, '\n'), "application/json", nil, true))
	if err == nil || isPreconditionFailed(err) {
		return nil
	}
	return fmt.Errorf("put claim %s: %w", key, w.classify(err))
}

// unfinished is a delivery that a writer claimed and did not finish: its
// claim, and its anchor's metadata.
type unfinished struct {
	claim  claimRecord
	anchor objectMeta
}

// findUnfinished returns the partition's latest claim before first (the
// batch's first record) when it is a delivery that holds first and is
// unfinished: a writer claimed it and stopped, and then retention deleted
// its first records, or an operator moved the group into it. Writing the
// batch as a new delivery would put its records a second time, next to the
// ones the stopped writer put (Writer.finish finishes it instead).
//
// Deliveries written before claims were recorded have none; a position
// inside one of those is caught as before, when an object meets one of
// the earlier delivery's (Writer.complete).
func (w *Writer) findUnfinished(ctx context.Context, partition int32, first int64) (*unfinished, error) {
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.ListObjectsV2(cctx, &s3.ListObjectsV2Input{
		Bucket:     aws.String(w.bucket),
		Prefix:     aws.String(w.layout.claimDir(partition)),
		StartAfter: aws.String(w.layout.claimKey(partition, first)),
		MaxKeys:    aws.Int32(1),
	})
	if err != nil {
		return nil, fmt.Errorf("list claims of partition %d: %w", partition, w.classify(err))
	}
	if len(out.Contents) == 0 {
		return nil, nil
	}
	key := aws.ToString(out.Contents[0].Key)
	if _, ok := w.layout.parseClaimKey(partition, key); !ok {
		return nil, nil
	}
	body, _, err := w.get(ctx, key, maxManifestBytes)
	if err != nil {
		return nil, err
	}
	var c claimRecord
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("decode claim %s: %w", key, err)
	}
	if err := w.sameIdentity("claim "+key, c.Identity); err != nil {
		return nil, err
	}
	stored, err := w.headMeta(ctx, c.Anchor)
	switch {
	case isNotFound(err):
		return nil, nil // the writer stopped before its anchor: nothing was claimed
	case err != nil:
		return nil, err
	case stored.batchLast < first:
		return nil, nil
	}
	switch _, err := w.getManifest(ctx, partition, stored.batchLast+1); {
	case err == nil:
		return nil, nil // finished
	case !isNotFound(err):
		return nil, err
	}
	return &unfinished{claim: c, anchor: stored}, nil
}

// finish finishes the unfinished delivery u from items, which begin after
// its first record: the records before them are gone (retention) or were
// skipped (an operator moved the group). The stopped writer wrote a prefix
// of the delivery's objects, in order; those stay. The items of every
// project and hour that no stored object holds are written as the rest of
// the delivery, linked to the last stored object, create-only, and the
// manifest lists both. An object that the stopped writer did not store and
// whose first records are gone is written from the records that remain (a
// shorter object, under the key of its first remaining record); the
// records before are lost, and the runtime counted them as expired.
//
// When the claim does not agree with the anchor (a race between writers
// with different batch boundaries), finish fails with an operator error
// that says where to resume instead.
func (w *Writer) finish(ctx context.Context, partition int32, u *unfinished, items []batch.Item) (head link, last int64, err error) {
	c, a := u.claim, u.anchor
	if c.Last != a.batchLast || c.Start != a.batchStart || c.First != a.batchFirst || len(c.Objects) == 0 ||
		c.Objects[0].Key != c.Anchor || c.Objects[0].SHA256 != a.sha256 {
		return link{}, 0, &sink.UnauthorizedError{Err: fmt.Errorf(
			"the batch begins at offset %d, inside the unfinished delivery %d-%d of partition %d (anchor %s), whose claim "+
				"does not describe it. Writing the batch would put again what that delivery's writer put. If the records "+
				"from offset %d are still in Kafka, reset the partition's offset to %d (partition %d of the group)",
			items[0].Offset, a.batchFirst, a.batchLast, partition, c.Anchor, a.batchStart, a.batchStart, partition)}
	}
	if items[len(items)-1].Offset < c.Last {
		return link{}, 0, &sink.NeedMoreError{Through: c.Last}
	}
	items = itemsThrough(items, c.Last)
	// The stored prefix, and the directories (project and hour) it covers.
	var objs []manifestObject
	covered := map[string]bool{}
	for _, o := range c.Objects {
		m, err := w.headMeta(ctx, o.Key)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return link{}, 0, err
		}
		if m.first != o.First || m.last != o.Last || m.records != o.Records || m.batchFirst != c.First || m.batchLast != c.Last {
			return link{}, 0, fmt.Errorf("object %s holds %s, not what the claim of delivery %d-%d planned", o.Key, m.describe(), c.First, c.Last)
		}
		o.SHA256, o.Chain = m.sha256, m.chain
		objs = append(objs, o)
		covered[path.Dir(o.Key)] = true
	}
	var rest []batch.Item
	for _, it := range items {
		hour := it.Event.GetOccurred().AsTime().UTC().Truncate(time.Hour)
		if !covered[path.Dir(w.layout.objectKey(it.Event.GetProjectId(), hour, partition, it.Offset))] {
			rest = append(rest, it)
		}
	}
	if len(rest) > 0 {
		d, err := w.build(partition, c.Start, rest)
		if err != nil {
			return link{}, 0, err
		}
		d.first, d.last, d.identity = c.First, c.Last, c.Identity
		prev := objs[len(objs)-1]
		for _, o := range d.objects {
			o.prev, o.chain = prev.SHA256, runningChain(prev.Chain, o.sha256)
			switch err := w.putObject(ctx, d, o); {
			case isPreconditionFailed(err):
				stored, err := w.headMeta(ctx, o.key)
				if err != nil {
					return link{}, 0, err
				}
				if want := metaOf(d, o); !stored.sameRecords(want) || stored.prev != want.prev ||
					(stored.chain != "" && stored.chain != runningChain(prev.Chain, stored.sha256)) {
					return link{}, 0, fmt.Errorf("object %s exists but does not match the rest of delivery %d-%d: it holds %s; the rest puts %s there",
						o.key, c.First, c.Last, stored.describe(), want.describe())
				}
				o.sha256, o.chain = stored.sha256, stored.chain
			case err != nil:
				return link{}, 0, err
			}
			prev = manifestObject{Key: o.key, First: o.first, Last: o.last, Records: o.records, SHA256: o.sha256, Chain: o.chain}
			objs = append(objs, prev)
		}
	}
	m := &manifest{Connector: c.Connector, Partition: partition, Start: c.Start, First: c.First, Last: c.Last, Prev: a.prev,
		Head: objs[len(objs)-1].SHA256, Chain: objs[len(objs)-1].Chain, Objects: objs, Identity: c.Identity}
	if err := m.check(); err != nil {
		return link{}, 0, fmt.Errorf("finish delivery %d-%d: %w", c.First, c.Last, err)
	}
	key := w.layout.manifestKey(partition, c.Last+1)
	if err := w.put(ctx, w.putInput(key, m.encode(), "application/json", nil, false)); err != nil {
		return link{}, 0, fmt.Errorf("put manifest %s: %w", key, w.classify(err))
	}
	w.log.Warn("finished a delivery that an earlier writer claimed and did not finish, from the records Kafka still holds; "+
		"records of it before the batch that no stored object holds are lost",
		"partition", partition, "delivery_first", c.First, "delivery_last", c.Last, "batch_first", items[0].Offset,
		"planned_objects", len(c.Objects), "objects", len(objs))
	return link{sha256: m.Head, chain: m.Chain}, c.Last, nil
}
