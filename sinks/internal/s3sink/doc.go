// Package s3sink writes a connector's audit events to S3 as exactly-once
// objects: after a crash, a rebalance or a zombie writer, every event of
// the connector's topic is in exactly one object, and a hash chain lets
// Verify detect a deleted, altered or missing object.
//
// # Layout
//
// A data object holds the events of one partition, one project and one UTC
// hour (of the event's occurred time), as one protojson line per event,
// gzip-compressed:
//
//	<prefix>/<project>/<YYYY>/<MM>/<DD>/<HH>/<connector>-<partition>-<first offset, 20 digits>.ndjson.gz
//
// Its metadata (x-amz-meta-*) gives its first-offset, last-offset,
// record-count, sha256 (hex, of the gzip bytes as stored), prev-sha256 (of
// the partition's object before it, by first offset; "" when a chain
// begins), the connector and partition, and the delivery it belongs to:
// batch-start, batch-first and batch-last.
//
// An object's bytes are a pure function of its records: fixed protojson
// options, each line compacted (protojson varies its spacing from build to
// build on purpose), and a fixed gzip level with no name or time in the
// header.
//
// # The protocol
//
// A batch covers partition positions from b.Start to b.Last(), with gaps
// where transaction markers and dead-lettered records take offsets. Its
// records are split by (project, hour) into objects, ordered by first
// offset; the object that holds the batch's first record is the anchor.
// The anchor's key, and so the claim, depends only on that record. The
// objects of one claim form a delivery.
//
//  1. Build the delivery's objects. Only the anchor's prev-sha256 depends on
//     anything but the records: it links to the chain head, the sha256 of
//     the partition's last object before b.Start. The writer remembers the
//     head per partition, keyed by the position it belongs to; when a
//     batch starts elsewhere (a new owner, a rebalance) it reads the head
//     from the manifest named b.Start. When there is none, the position is
//     the partition's first, or was moved (by hand, or reset after the
//     group's offsets expired): the first manifest named after b.Start
//     tells whether b.Start lies inside a finished delivery, whose records
//     are then skipped (or the batch must grow to its end: NeedMore);
//     otherwise a new chain begins ("").
//  2. PUT the anchor with If-None-Match: *. Success claims the delivery.
//     A 412 means an earlier writer (a crashed, zombie or concurrent owner)
//     claimed the same first record: the writer HEADs its anchor and reads
//     batch-last L. When L is beyond the batch, Write returns
//     *sink.NeedMoreError{Through: L}, and the runtime grows the batch.
//     Otherwise it adopts: it rebuilds the delivery from its own records at
//     offsets up to L (with the anchor's stored batch-start and
//     prev-sha256), which gives the earlier writer's objects, and finishes
//     it (steps 3 and 4). The records after L form a new delivery that
//     begins at L+1, from step 1; it may be adopted in turn. (An object
//     at the anchor's key that belongs to a delivery begun before the
//     batch means the position lies inside that delivery, as in step 1.)
//  3. PUT the other objects in order, each with If-None-Match: * and with
//     prev-sha256 set to the stored sha256 of the object before it. A 412
//     means an earlier attempt wrote the object: its metadata must
//     describe the same records (offsets, count, delivery) with the same
//     link, or the write fails with an error that says what differs.
//  4. PUT the manifest <prefix>/_manifests/<connector>/<partition>/<L+1, 20
//     digits>.json: the delivery's start, first and last offsets, its
//     objects (keys, offsets, counts, sha256s), the anchor's prev and the
//     head, the sha256 of its last object. It is named by the position
//     that follows the delivery, where the partition's next batch begins,
//     so that an owner resuming at a committed offset finds the head there.
//     The manifest's bytes depend only on the stored objects, so a plain
//     PUT by any writer that finishes the delivery is idempotent. It is
//     written last: a delivery without a manifest is unfinished, and the
//     runtime has committed nothing for it.
//  5. Return Through = b.Last(). The runtime commits only then.
//
// Two writers that race on the same batch claim the same anchor; one wins,
// the other adopts, and both write identical siblings and manifests. Two
// writers with different batch boundaries from the same start also meet at
// the anchor: the shorter one asks for more records, the longer one adopts
// the shorter claim and claims the rest from L+1. Since every delivery
// starts where the previous one ended and each is fixed by its anchor, the
// partition's segmentation into deliveries is the same for every writer.
//
// An existing object (an adopted anchor, or a sibling found on a 412)
// whose metadata describes the same records and link but whose sha256
// differs is kept, with a warning, and the chain continues from its stored
// sha256, rather than wedging the partition on something no writer can
// change: another build of the sink (whose compression library produces
// other bytes) or other redaction settings wrote it.
//
// # Errors
//
// The SDK retries a request at most three times, with at most two
// seconds between attempts; after that a transient error (5xx, throttling,
// network) goes back to the runtime, which retries the batch with its own
// backoff and reports the outage. Each S3 call is bounded by a minute.
// Denied requests (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,
// expired tokens, STS refusals) and a missing bucket come back wrapped in
// *sink.UnauthorizedError: only an operator can fix them.
//
// # Permissions
//
// The writer needs s3:PutObject, s3:GetObject and s3:ListBucket (without
// it S3 answers 403 instead of 404 for a missing manifest), plus
// s3:PutObjectRetention with Object Lock and kms:GenerateDataKey with
// SSE-KMS. It never deletes an object; Check deletes its probe when it is
// allowed to. With Object Lock, overwriting a manifest adds a version;
// versions of locked manifests stay until their retention ends.
//
// # Known limits
//
// A position moved into the middle of an unfinished delivery (no manifest
// yet) cannot be detected before the writer claims a new anchor there. The
// write then fails, when one of its objects meets one of the earlier
// delivery's, with an error that names the offset to reset the partition
// to; the stray anchor stays, and Verify reports the overlap.
//
// Verify reads every object (one GET each).
package s3sink
