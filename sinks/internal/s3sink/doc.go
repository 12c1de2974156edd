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
// begins), chain-sha256 (its running chain value, below), the connector
// and partition, the delivery it belongs to: batch-start, batch-first and
// batch-last, and the identity of the topic its offsets belong to:
// topic-id (Kafka's topic ID) and cluster-id.
//
// # The chain value
//
// prev-sha256 links each object to the one before it, but only in
// mutable metadata: someone with the bucket's write credentials could
// rewrite an object in the middle, recompute its sha256 (metadata and
// manifest) and copy the next object with its prev-sha256 changed, and
// the links would still agree. So each object also carries its running
// chain value:
//
//	chain-sha256 = hex(sha256(P || S))
//
// where S is the object's sha256 and P the chain-sha256 of the object
// before it (the one its prev-sha256 names), both as lowercase hex
// strings (64 ASCII characters), concatenated: 128 bytes, or 64 when P is
// "". P is "" at a chain start (prev-sha256 ""), and after an object
// without chain-sha256 (written by a sink older than chain values: the
// chain begins again after it). The chain value of an object depends on
// every object of its chain up to it. A manifest records each object's
// chain value (objects[].chain) and the last one's (chain); the head
// recorded outside the bucket records the chain value at its offset
// (Head.Chain). A writer takes the value it links to from where it takes
// prev-sha256: the manifest at the batch start or its own last delivery,
// the stored anchor it adopts, the stored objects of a delivery it
// finishes or restores (objects stay a pure function of their records and
// their link). A manifest without chain values (written by an earlier
// build) gives it from its last object's metadata.
//
// Verify recomputes the running chain value of each partition from the
// objects' own bytes, in offset order. An object whose chain-sha256 is
// not what the chain-sha256 before it and its bytes give is
// chain_mismatch; where verify already reported the object (altered, a
// broken link, unreadable metadata, a chain_mismatch) it goes on from the
// stored value, so that one damage is one problem. At the head's offset
// the recomputed value must be the head's (head_mismatch otherwise): a
// rewrite that recomputed every later chain-sha256 and manifest as well
// shows there. Objects without chain-sha256 are counted
// (PartitionReport.NoChainValue), not problems; a head without a chain
// value (recorded by an earlier build) checks only the sha256. With
// --from/--to, not every object is read and the chain value at the head
// is not recomputed.
//
// # Topic identity
//
// Offsets mean the same records only within one topic identity (Identity):
// a topic deleted and created again, a new cluster, a changed
// topics.connector_prefix or a second pipeline with the same connector id
// all start offsets again under the same keys. Check claims the
// connector's key space for the writer's identity, create-only, at
// <prefix>/_auditstream/identity-<connector>.json, and refuses to start
// (an UnauthorizedError: exit 2) when the claim there names another. Every
// object and manifest records the identity, and the writer never adopts or
// skips what another identity wrote: meeting one mid-run fails the batch
// with an UnauthorizedError (retried slowly, the sink not ready). Objects
// and manifests without an identity were written before identities were
// recorded; the first writer that claims the key space takes them as its
// topic's, with a warning.
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
//     batch starts elsewhere (a new owner, a rebalance, a reset, a replay),
//     or behind the head recorded outside the bucket (a replay), it reads
//     the head from the manifest named b.Start, and the first manifest
//     named after b.Start tells whether b.Start lies inside a finished
//     delivery. Such a delivery's records are in S3 already and are
//     skipped (or the batch must grow to its end: NeedMore), but first
//     each of its objects is checked (HEAD), and one that is missing (a
//     lifecycle rule deleted it while the manifest stayed) is written
//     again from the batch's records, create-only: the same bytes, since
//     they are a pure function of the records. When no manifest is named
//     b.Start and no finished delivery holds it, the partition's latest
//     claim before the batch's first record (step 2) tells whether an
//     unfinished delivery holds it: a writer claimed it and stopped, and
//     then retention deleted its first records or an operator moved the
//     group into it. Writing the batch as a new delivery would put again
//     what that writer put; the writer finishes that delivery instead
//     (Writer.finish): the objects the stopped writer stored (a prefix of
//     the claim's, in order) stay, the batch's records of every project
//     and hour that none of them holds are written as the rest of the
//     delivery, linked to the last stored object, and the manifest lists
//     both. Records of the delivery before the batch that no stored object
//     holds are lost (the runtime counts them as expired when retention
//     took them). Otherwise a new chain begins ("").
//  2. PUT a claim, create-only, at
//     <prefix>/_auditstream/claims/<connector>/<partition>/<MaxInt64 -
//     first offset, 19 digits>.json, naming the anchor's key and the
//     delivery's planned objects (as a manifest would): the names
//     count down, so that one LIST finds a partition's latest claim at or
//     before an offset, which the anchor's key (it depends on the record's
//     project and hour) cannot give. Then PUT the anchor with
//     If-None-Match: *. Success claims the delivery.
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
//     objects (keys, offsets, counts, sha256s, chain values), the anchor's
//     prev and the head, the sha256 of its last object, and that
//     object's chain value. It is named by the position
//     that follows the delivery, where the partition's next batch begins,
//     so that an owner resuming at a committed offset finds the head there.
//     The manifest's bytes depend only on the stored objects, so a plain
//     PUT by any writer that finishes the delivery is idempotent. It is
//     written last: a delivery without a manifest is unfinished, and the
//     runtime has committed nothing for it. Manifests record the topic
//     identity too (topic_id, cluster_id).
//  5. When the batch ends past the partition's recorded head, record the
//     new head (Head: last offset, the sha256 and the chain value of its
//     object, the manifest, the identity) in the HeadStore, a compacted Kafka topic the
//     bucket's credentials cannot write, and wait for its acknowledgement.
//     A replay never rewinds it; a replay that writes the delivery ending
//     at the head with other bytes (a deleted tail, other batch
//     boundaries) records it again at the same offset.
//  6. Return Through = b.Last(). The runtime commits only then, so a
//     commit never runs ahead of the recorded head.
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
// sha256 and chain value (a sibling whose chain-sha256 is not the one its
// link and stored sha256 give fails the write; one without chain-sha256,
// written by an earlier build, begins the chain value again), rather than wedging the partition on something no writer can
// change: another build of the sink (whose compression library produces
// other bytes) or other redaction settings wrote it.
//
// A rolling upgrade whose builds disagree on a record (the earlier build
// delivers it, this one dead-letters it, e.g. a stricter filter re-check)
// inside a delivery the earlier build claimed and did not finish cannot be
// adopted: this build's records give another delivery. The runtime
// dead-letters the record as it reads it, before the write learns of the
// delivery; the write asks for more records than this build delivers, and
// the partition stops, not ready, naming the dead-lettered offsets
// (sink.worker.adoptionError). Nothing is written over the delivery or
// committed past it. When the earlier build then finishes it, the record is
// in an object and in the DLQ, and Verify reports exactly that on the
// delivery: ProblemCount (one record more than Kafka has data records in
// the delivery's range) and, when an object of the delivery begins or ends
// at the record's offset, ProblemDLQOverlap there (Verify knows the offsets
// inside an object only by their count). This is
// not cleaned up: it is the disagreement, on the record
// (TestS3RollingUpgradeBuildsDisagree in cmd/sink).
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
// versions of locked manifests stay until their retention ends. In Kafka,
// besides consuming its topic, the sink describes the connector topic and
// the cluster (the identity), and writes and reads the heads topic (and
// may create it, compacted, when the router has not yet).
//
// # Known limits
//
// A claim that does not agree with the anchor that won (two writers with
// different batch boundaries raced for the same first record, and one
// stopped) cannot be finished from the claim: the write fails with an
// UnauthorizedError that names the delivery and the offset to reset to.
// Deliveries written before claims were recorded have none; a position
// inside one of those is caught later, when one of the writer's objects
// meets one of the earlier delivery's, and the stray anchor stays. A
// stopped writer that is in fact a zombie and resumes after another
// finished its delivery could still add the objects it planned; verify
// reports the overlap.
//
// An object of a finished delivery that holds records from before the
// batch's first one cannot be written again by that batch; it is logged,
// and written again by a replay from the delivery's start.
//
// The heads topic keeps one head per connector id and partition: a second
// archive of the same connector id on the same cluster (under another
// prefix, after an identity change) takes over the key, and a head of
// another identity is ignored. Heads only move forward within a writer: a
// zombie (an owner that lost the partition without knowing) that records a
// head after the new owner recorded a later one moves the key back by its
// deliveries, until the new owner's next delivery records a later head.
//
// Claims accumulate, one per delivery, like manifests. Only the claims of
// recent deliveries matter (an unfinished delivery is the partition's
// last), so a lifecycle rule may expire _auditstream/claims/ after a few
// days.
//
// Verify reads every object (one GET each).
package s3sink
