package s3sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// Report is what Verify found in a connector's objects (and, when it was
// given Kafka, in its topic). It serialises to JSON. OK tells whether
// anything is wrong.
type Report struct {
	Bucket    string `json:"bucket"`
	Prefix    string `json:"prefix"`
	Connector string `json:"connector"`
	// Topic, Identity and HeadsTopic are set when Kafka was read.
	Topic      string    `json:"topic,omitempty"`
	Identity   *Identity `json:"identity,omitempty"`
	HeadsTopic string    `json:"heads_topic,omitempty"`
	// Versioned says whether the bucket keeps versions; then Verify lists
	// every version and delete marker.
	Versioned bool  `json:"versioned"`
	Objects   int   `json:"objects"`
	Events    int64 `json:"events"`
	Manifests int   `json:"manifests"`
	Problems  int   `json:"problems"`
	// Expected are the versions and keys found that are harmless, and so
	// not problems: the startup probe, connector-test markers, manifests
	// written again with the same bytes.
	Expected   []string          `json:"expected,omitempty"`
	Partitions []PartitionReport `json:"partitions"`
	// Generations are the objects of other generations of the topic (by
	// the topic ID in their metadata: a topic deleted and created again,
	// another cluster), each checked on its own, without Kafka.
	Generations []GenerationReport `json:"generations,omitempty"`
	// Bucket-wide problems (not of one partition).
	BucketProblems []Problem `json:"bucket_problems,omitempty"`
}

// GenerationReport is what Verify found in the objects of one other
// generation of the topic.
type GenerationReport struct {
	TopicID    string            `json:"topic_id"`
	Partitions []PartitionReport `json:"partitions"`
}

// PartitionReport is one partition's part of a Report.
type PartitionReport struct {
	Partition   int32 `json:"partition"`
	Objects     int   `json:"objects"`
	Events      int64 `json:"events"`
	Deliveries  int   `json:"deliveries"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	// ChainStarts are the first offsets of the objects that begin a hash
	// chain (an empty prev-sha256): the partition's first object, and any
	// whose writer found no manifest at its batch start (the consumer's
	// position was reset). They are not problems in themselves.
	ChainStarts []int64 `json:"chain_starts,omitempty"`
	// NoChainValue counts the objects without chain-sha256, written by a
	// sink older than chain values: their chain value is not checked, and
	// the running chain begins again after each. Not a problem in itself.
	NoChainValue int `json:"no_chain_value,omitempty"`
	// InProgress are objects that no manifest lists yet, of a delivery
	// that begins after the partition's recorded head (or, without Kafka,
	// after its last manifest): a delivery being written. Objects that no
	// manifest confirms anywhere else are problems (unconfirmed).
	InProgress []string `json:"in_progress,omitempty"`
	// Kafka is the reconciliation with the connector topic.
	Kafka    *KafkaPartition `json:"kafka,omitempty"`
	Problems []Problem       `json:"problems,omitempty"`
}

// Problem is one thing wrong with the stored objects.
type Problem struct {
	Kind   string `json:"kind"` // one of the Problem* constants
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// The kinds of Problem.
const (
	// ProblemMissing: a manifest lists an object that is not there.
	ProblemMissing = "missing"
	// ProblemAltered: an object's bytes do not match its sha256, its
	// record count, or the sha256 its manifest recorded.
	ProblemAltered = "altered"
	// ProblemBrokenChain: an object's prev-sha256 is not the sha256 of the
	// partition's object before it: an object between them is missing, or
	// one was replaced.
	ProblemBrokenChain = "broken_chain"
	// ProblemChainMismatch: an object's chain-sha256 is not the running
	// chain value recomputed from the chain-sha256 of the object before
	// it and this object's own bytes: the object was rewritten (its
	// sha256 and links recomputed) without its chain value.
	ProblemChainMismatch = "chain_mismatch"
	// ProblemBadMetadata: an object lacks the sink's metadata, or its
	// metadata contradicts its key.
	ProblemBadMetadata = "bad_metadata"
	// ProblemOverlap: two deliveries hold the same offsets (duplicates).
	ProblemOverlap = "overlap"
	// ProblemBadManifest: a manifest that cannot be read or contradicts its
	// name or its objects' metadata.
	ProblemBadManifest = "bad_manifest"
	// ProblemManifestChain: a manifest does not follow on from the one
	// before it: its prev is not the earlier delivery's head.
	ProblemManifestChain = "manifest_chain"
	// ProblemUnconfirmed: an object that no manifest lists, and that is
	// not part of the delivery in progress at the partition's tail.
	ProblemUnconfirmed = "unconfirmed"
	// ProblemMissingManifest: a delivery's objects are there, its manifest
	// is not (the key is the manifest's).
	ProblemMissingManifest = "missing_manifest"
	// ProblemMissingPartition: Kafka holds records of a partition that
	// the bucket has nothing of.
	ProblemMissingPartition = "missing_partition"
	// ProblemGap: data records in Kafka, up to the head, in no object.
	ProblemGap = "gap"
	// ProblemTruncated: the archive ends before the head recorded outside
	// the bucket (or the committed offset, without a head).
	ProblemTruncated = "truncated"
	// ProblemCount: a delivery holds another number of records than Kafka
	// has data records in its range.
	ProblemCount = "count"
	// ProblemDLQOverlap: a record both in an object and in the DLQ.
	ProblemDLQOverlap = "dlq_overlap"
	// ProblemHeadMismatch: the chain's sha256 at the head's offset is not
	// the head's: the archive was rewritten consistently.
	ProblemHeadMismatch = "head_mismatch"
	// ProblemNoHead: the partition has deliveries but no head is recorded
	// outside the bucket (a writer older than the heads, or the heads
	// topic was lost): a consistent rewrite could not be detected.
	ProblemNoHead = "no_head"
	// ProblemCommitAhead: the consumer group committed records that the
	// head does not record as delivered.
	ProblemCommitAhead = "commit_ahead"
	// ProblemDeleteMarker: a delete marker on an archive key (a versioned
	// bucket): the object was deleted; its versions may remain.
	ProblemDeleteMarker = "delete_marker"
	// ProblemNoncurrentVersion: an archive key was overwritten: an older
	// version with other bytes remains.
	ProblemNoncurrentVersion = "noncurrent_version"
	// ProblemStray: a key under the prefix that the sink does not write.
	ProblemStray = "stray"
	// ProblemUnchecked: part of the range could not be read.
	ProblemUnchecked = "unchecked"
)

// OK reports whether the report found no problem.
func (r *Report) OK() bool { return r.Problems == 0 }

// verifyConcurrency is how many objects Verify reads at once.
const verifyConcurrency = 4

// stored is a data object as Verify read it.
type stored struct {
	key       string
	partition int32 // from the key
	first     int64 // from the key
	meta      objectMeta
	metaErr   error
	sha256    string // of the bytes read
	lines     int    // -1 when the bytes are not gzip
	gzipErr   error
	topicID   string // the topic-id metadata: the generation; "" before identities
	// chain is the running chain value recomputed from the bytes of the
	// partition's objects up to this one (checkPartition, when it reads
	// every object: chained is then set).
	chain   string
	chained bool
}

// VerifyOptions narrow what Verify checks and give it Kafka.
type VerifyOptions struct {
	// Partitions, when set, are the only partitions checked.
	Partitions []int32
	// From and To, when set, bound the objects whose bytes are read by the
	// occurred hour in their key (To is inclusive). Manifests are read
	// whole, so the deliveries, the chain of manifests and Kafka are still
	// checked from end to end.
	From, To time.Time
	// Kafka is the connector topic as read by ReadKafka; nil checks the
	// bucket alone.
	Kafka *KafkaView
	// Progress, when set, receives a line now and then.
	Progress io.Writer
}

// Verify checks the bucket alone: Verify with no options.
func (w *Writer) Verify(ctx context.Context) (*Report, error) {
	return w.VerifyWith(ctx, VerifyOptions{})
}

// VerifyWith reads the connector's objects under the prefix (all projects
// and dates) and checks them: each object's bytes against its sha256 and
// record count; each partition's hash chain, in order of first offset;
// every manifest against its objects and the manifest before it; that no
// two deliveries hold the same offsets and that every object is
// confirmed by a manifest; on a versioned bucket, every delete marker and
// overwritten version. Given Kafka, it reconciles every partition with
// the topic and compares its chain with the head recorded there. It reads
// every selected object, so it costs one GET per object and per manifest.
func (w *Writer) VerifyWith(ctx context.Context, o VerifyOptions) (*Report, error) {
	prog := newProgress(o.Progress)
	r := &Report{Bucket: w.bucket, Prefix: w.layout.prefix, Connector: w.layout.connector}
	l, err := w.listArchive(ctx, prog)
	if err != nil {
		return nil, err
	}
	r.Versioned = l.versioned
	r.Expected = l.expected
	if o.Kafka != nil {
		r.Topic, r.HeadsTopic = o.Kafka.Topic, o.Kafka.HeadsTopic
		id := o.Kafka.Identity
		r.Identity = &id
	}
	want := func(p int32) bool { return len(o.Partitions) == 0 || slices.Contains(o.Partitions, p) }
	var dataKeys, manifestKeys []string
	for _, key := range l.data {
		p, _, _ := w.layout.parseObjectKey(key)
		if want(p) && inHours(key, o.From, o.To) {
			dataKeys = append(dataKeys, key)
		}
	}
	for _, key := range l.manifests {
		if p, _, _ := w.layout.parseManifestKey(key); want(p) {
			manifestKeys = append(manifestKeys, key)
		}
	}
	filtered := !o.From.IsZero() || !o.To.IsZero()
	prog.say("reading %d objects and %d manifests", len(dataKeys), len(manifestKeys))
	objects, err := w.readObjects(ctx, dataKeys, prog)
	if err != nil {
		return nil, err
	}
	manifests := w.readManifests(ctx, manifestKeys)
	r.Manifests = len(manifestKeys)
	// Objects and manifests of another generation of the topic (deleted
	// and created again, another cluster: another topic ID in their
	// identity) are checked on their own, without Kafka; those that name
	// no identity (written before identities) belong with the current one.
	current := ""
	if o.Kafka != nil {
		current = o.Kafka.Identity.TopicID
	} else {
		current = mostCommon(objects)
	}
	gens := map[string]*generation{}
	gen := func(id string) *generation {
		if id == "" || sameTopicID(id, current) {
			id = ""
		}
		if gens[id] == nil {
			gens[id] = &generation{}
		}
		return gens[id]
	}
	gen("")
	for _, ob := range objects {
		g := gen(ob.topicID)
		g.objects = append(g.objects, ob)
	}
	for i, key := range manifestKeys {
		g := gen(manifests[i].topicID)
		g.keys, g.manifests = append(g.keys, key), append(g.manifests, manifests[i])
	}
	parts := w.checkGeneration(gens[""], l.deleted, o.Kafka, want, filtered)
	part := func(p int32) *PartitionReport {
		if parts[p] == nil {
			parts[p] = &PartitionReport{Partition: p, FirstOffset: -1, LastOffset: -1}
		}
		return parts[p]
	}
	for id, g := range gens {
		if id == "" {
			continue
		}
		gr := GenerationReport{TopicID: id}
		for _, pr := range w.checkGeneration(g, l.deleted, nil, want, filtered) {
			gr.Partitions = append(gr.Partitions, *pr)
			r.Objects += pr.Objects
			r.Events += pr.Events
			r.Problems += len(pr.Problems)
		}
		sort.Slice(gr.Partitions, func(i, j int) bool { return gr.Partitions[i].Partition < gr.Partitions[j].Partition })
		r.Generations = append(r.Generations, gr)
	}
	sort.Slice(r.Generations, func(i, j int) bool { return r.Generations[i].TopicID < r.Generations[j].TopicID })
	for _, v := range l.findings {
		switch {
		case v.partition < 0:
			r.BucketProblems = append(r.BucketProblems, v.Problem)
		case want(v.partition):
			pr := part(v.partition)
			pr.Problems = append(pr.Problems, v.Problem)
		}
	}
	for _, pr := range parts {
		slices.Sort(pr.InProgress)
		r.Partitions = append(r.Partitions, *pr)
		r.Objects += pr.Objects
		r.Events += pr.Events
		r.Problems += len(pr.Problems)
	}
	r.Problems += len(r.BucketProblems)
	sort.Slice(r.Partitions, func(i, j int) bool { return r.Partitions[i].Partition < r.Partitions[j].Partition })
	prog.say("done: %d objects, %d manifests, %d problems", r.Objects, r.Manifests, r.Problems)
	return r, nil
}

// generation is the objects and manifests of one topic identity.
type generation struct {
	objects   []*stored
	keys      []string
	manifests []manifestRead
}

// mostCommon is the topic identity that most objects name, "" when none
// does: without Kafka, the archive's current generation.
func mostCommon(objects []*stored) string {
	n := map[string]int{}
	best := ""
	for _, o := range objects {
		if o.topicID == "" {
			continue
		}
		n[o.topicID]++
		if n[o.topicID] > n[best] {
			best = o.topicID
		}
	}
	return best
}

// checkGeneration checks one generation's objects and manifests, and,
// given Kafka, reconciles them with the topic and its heads.
func (w *Writer) checkGeneration(g *generation, deleted map[string]bool, kafka *KafkaView, want func(int32) bool, filtered bool) map[int32]*PartitionReport {
	objects, manifestKeys, manifests := g.objects, g.keys, g.manifests
	parts := make(map[int32]*PartitionReport)
	part := func(p int32) *PartitionReport {
		if parts[p] == nil {
			parts[p] = &PartitionReport{Partition: p, FirstOffset: -1, LastOffset: -1}
		}
		return parts[p]
	}
	byPartition := make(map[int32][]*stored)
	for _, o := range objects {
		byPartition[o.partition] = append(byPartition[o.partition], o)
	}
	for p, objs := range byPartition {
		checkPartition(part(p), w.layout.connector, objs, !filtered)
	}
	confirmed := make(map[string]bool)
	byKey := make(map[string]*stored, len(objects))
	for _, o := range objects {
		byKey[o.key] = o
	}
	good := make(map[int32][]*manifest)
	for i, key := range manifestKeys {
		p, next, _ := w.layout.parseManifestKey(key)
		if checkManifest(part(p), w.layout.connector, key, next, manifests[i], byKey, confirmed, deleted, filtered) {
			good[p] = append(good[p], manifests[i].m)
		}
	}
	// Which partitions Kafka knows, and their heads.
	var heads map[int32]Head
	if kafka != nil {
		heads = kafka.Heads
		for p := range kafka.Partitions {
			if want(p) {
				part(p)
			}
		}
	}
	for p, pr := range parts {
		var head *Head
		if h, ok := heads[p]; ok {
			head = &h
		}
		covs := w.unconfirmed(pr, byPartition[p], good[p], confirmed, head, filtered)
		for _, m := range good[p] {
			covs = append(covs, coverageOf(w.layout, m))
		}
		checkDeliveryChain(pr, covs, filtered)
		if head != nil {
			checkHead(pr, *head, good[p], byKey, kafka != nil)
		}
		if kafka != nil {
			if head == nil && len(covs) > 0 {
				pr.Problems = append(pr.Problems, Problem{Kind: ProblemNoHead, Key: HeadKey(w.layout.connector, p),
					Detail: fmt.Sprintf("no head of this partition in %s: a consistent rewrite of the archive cannot be detected", kafka.HeadsTopic)})
			}
			if l, ok := kafka.Partitions[p]; ok {
				reconcile(pr, l, head, covs)
			} else if len(covs) > 0 {
				pr.Problems = append(pr.Problems, Problem{Kind: ProblemMissingPartition,
					Detail: fmt.Sprintf("the bucket holds deliveries of partition %d, which topic %s does not have", p, kafka.Topic)})
			}
		}
	}
	return parts
}

// inHours reports whether a data object's key lies within the occurred
// hours from and to (either may be zero: unbounded).
func inHours(key string, from, to time.Time) bool {
	if from.IsZero() && to.IsZero() {
		return true
	}
	h, ok := keyHour(key)
	if !ok {
		return true // read what cannot be placed: it is checked, not skipped
	}
	return (from.IsZero() || !h.Before(from.Truncate(time.Hour))) && (to.IsZero() || !h.After(to))
}

// keyHour is the occurred hour in a data object's key:
// .../<YYYY>/<MM>/<DD>/<HH>/<name>.
func keyHour(key string) (time.Time, bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 5 {
		return time.Time{}, false
	}
	t, err := time.Parse("2006/01/02/15", strings.Join(parts[len(parts)-5:len(parts)-1], "/"))
	return t, err == nil
}

// unconfirmed sorts the partition's objects that no manifest lists: those
// of a delivery in progress at the tail (past the head, or without Kafka
// past the last manifest) are noted; the others are problems, grouped by
// delivery, a delivery whose objects are all there being a missing
// manifest. It returns those deliveries, for the reconciliation.
func (w *Writer) unconfirmed(pr *PartitionReport, objs []*stored, ms []*manifest, confirmed map[string]bool, head *Head, filtered bool) []coverage {
	tail := int64(-1)
	for _, m := range ms {
		tail = max(tail, m.Last)
	}
	if head != nil {
		tail = max(tail, head.Last)
	}
	byDelivery := make(map[int64][]*stored)
	var firsts []int64
	for _, o := range objs {
		if confirmed[o.key] {
			continue
		}
		if o.metaErr != nil {
			pr.Problems = append(pr.Problems, Problem{Kind: ProblemUnconfirmed, Key: o.key, Detail: "no manifest lists this object, and its metadata is unreadable"})
			continue
		}
		if o.meta.batchFirst > tail {
			pr.InProgress = append(pr.InProgress, o.key)
			continue
		}
		if byDelivery[o.meta.batchFirst] == nil {
			firsts = append(firsts, o.meta.batchFirst)
		}
		byDelivery[o.meta.batchFirst] = append(byDelivery[o.meta.batchFirst], o)
	}
	slices.Sort(firsts)
	var covs []coverage
	for _, f := range firsts {
		os := byDelivery[f]
		m := os[0].meta
		c := coverage{first: m.batchFirst, last: m.batchLast, start: m.batchStart, key: w.layout.manifestKey(pr.Partition, m.batchLast+1)}
		// Do the objects cover the delivery? Its anchor starts it, the
		// object holding batch-last ends it, and each links to the one
		// before it.
		sort.Slice(os, func(i, j int) bool { return os[i].first < os[j].first })
		whole := os[0].first == m.batchFirst && !filtered
		end := int64(-1)
		for i, o := range os {
			c.records += int64(o.meta.records)
			c.bounds = append(c.bounds, o.meta.first, o.meta.last)
			c.objects = append(c.objects, o.key)
			end = max(end, o.meta.last)
			if i > 0 && o.meta.prev != os[i-1].meta.sha256 {
				whole = false
			}
		}
		whole = whole && end == m.batchLast
		c.prev, c.head = os[0].meta.prev, os[len(os)-1].meta.sha256
		if whole {
			pr.Problems = append(pr.Problems, Problem{Kind: ProblemMissingManifest, Key: c.key,
				Detail: fmt.Sprintf("the delivery %d-%d is complete (%d objects: %s) but its manifest is not in the bucket", m.batchFirst, m.batchLast, len(os), describeKeys(c.objects))})
		} else {
			for _, o := range os {
				pr.Problems = append(pr.Problems, Problem{Kind: ProblemUnconfirmed, Key: o.key,
					Detail: fmt.Sprintf("no manifest lists this object of delivery %d-%d, which is not the delivery in progress at the partition's tail (%d)", m.batchFirst, m.batchLast, tail)})
			}
		}
		if !filtered {
			covs = append(covs, c)
		}
	}
	return covs
}

// coverageOf is what a manifest's delivery covers.
func coverageOf(l layout, m *manifest) coverage {
	c := coverage{first: m.First, last: m.Last, start: m.Start, prev: m.Prev, head: m.Head, key: l.manifestKey(m.Partition, m.Last+1), confirmed: true}
	for _, o := range m.Objects {
		c.records += int64(o.Records)
		c.bounds = append(c.bounds, o.First, o.Last)
		c.objects = append(c.objects, o.Key)
	}
	return c
}

// checkDeliveryChain checks that each of a partition's deliveries (those
// its manifests confirm, and those rebuilt from objects whose manifest is
// missing) follows on from the one before it: it begins after it, and
// links to its head (or to "", a chain that begins again, when the
// consumer's position was reset).
func checkDeliveryChain(pr *PartitionReport, covs []coverage, filtered bool) {
	sort.Slice(covs, func(i, j int) bool { return covs[i].first < covs[j].first })
	for i := 1; i < len(covs); i++ {
		a, b := covs[i-1], covs[i]
		switch {
		case b.start <= a.last:
			if filtered { // else checkPartition reports it, from the objects
				pr.Problems = append(pr.Problems, Problem{Kind: ProblemOverlap, Key: b.key,
					Detail: fmt.Sprintf("delivery %d-%d (start %d) begins inside delivery %d-%d", b.first, b.last, b.start, a.first, a.last)})
			}
		case b.prev != "" && b.prev != a.head:
			pr.Problems = append(pr.Problems, Problem{Kind: ProblemManifestChain, Key: b.key,
				Detail: fmt.Sprintf("links to sha256 %s, not to the head %s of the delivery before it (%d-%d, %s)", b.prev, a.head, a.first, a.last, a.key)})
		}
	}
}

// readObjects GETs and hashes the objects, a few at a time. An object
// deleted since the listing is left out.
func (w *Writer) readObjects(ctx context.Context, keys []string, prog *progress) ([]*stored, error) {
	read := make([]*stored, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyConcurrency)
	for i, key := range keys {
		g.Go(func() error {
			o, err := w.readObject(ctx, key)
			prog.tick("read %d of %d objects", len(keys))
			if isNotFound(err) {
				return nil
			}
			read[i] = o
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(read, func(o *stored) bool { return o == nil }), nil
}

// manifestRead is a manifest as Verify read it.
type manifestRead struct {
	m       *manifest
	err     error
	topicID string // the manifest's topic_id: its generation
}

// verifyMetaTopicID is the metadata that names the topic ID an object's offsets
// belong to (written by the writer since identities).
const verifyMetaTopicID = "topic-id"

// readManifests GETs the manifests, a few at a time. A manifest that
// cannot be read is reported, not fatal.
func (w *Writer) readManifests(ctx context.Context, keys []string) []manifestRead {
	out := make([]manifestRead, len(keys))
	var g errgroup.Group
	g.SetLimit(verifyConcurrency)
	for i, key := range keys {
		g.Go(func() error {
			body, _, err := w.get(ctx, key, maxManifestBytes)
			if err == nil {
				out[i].m, err = parseManifest(body)
				var id struct {
					TopicID string `json:"topic_id"`
				}
				if json.Unmarshal(body, &id) == nil {
					out[i].topicID = id.TopicID
				}
			}
			out[i].err = err
			return nil
		})
	}
	_ = g.Wait() // every error is kept in out
	return out
}

// readObject reads one data object: its metadata, the sha256 of its bytes
// and its number of lines.
func (w *Writer) readObject(ctx context.Context, key string) (*stored, error) {
	o := &stored{key: key, lines: -1}
	o.partition, o.first, _ = w.layout.parseObjectKey(key)
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, w.classify(err))
	}
	defer out.Body.Close()
	o.meta, o.metaErr = parseMeta(out.Metadata)
	for k, v := range out.Metadata {
		if strings.EqualFold(k, verifyMetaTopicID) {
			o.topicID = v
		}
	}
	h := sha256.New()
	body := io.TeeReader(out.Body, h)
	o.lines, o.gzipErr = countLines(body)
	// Hash what the gzip reader left unread too (trailing bytes).
	if _, err := io.Copy(io.Discard, body); err != nil {
		return nil, fmt.Errorf("read object %s: %w", key, err)
	}
	o.sha256 = hex.EncodeToString(h.Sum(nil))
	return o, nil
}

// countLines counts the lines of gzip content.
func countLines(r io.Reader) (int, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return -1, err
	}
	defer zr.Close()
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := zr.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return -1, err
		}
	}
}

// checkPartition checks one partition's objects and their hash chain.
// Without chain (only some hours read), links are checked against the
// manifests instead (checkManifest).
func checkPartition(pr *PartitionReport, connector string, objs []*stored, chain bool) {
	sort.Slice(objs, func(i, j int) bool { return objs[i].first < objs[j].first })
	problem := func(kind, key, format string, args ...any) {
		pr.Problems = append(pr.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	shas := make(map[string]string) // sha256 (metadata) -> key
	for _, o := range objs {
		if o.metaErr == nil {
			shas[o.meta.sha256] = o.key
		}
	}
	type span struct{ first, last int64 }
	var deliveries []span
	seen := make(map[int64]bool)
	var prev *stored // the object before, when its metadata is readable
	// The running chain value of the object before, recomputed from the
	// objects' bytes (see the package documentation, "The chain value").
	running := ""
	for _, o := range objs {
		pr.Objects++
		if o.lines > 0 {
			pr.Events += int64(o.lines)
		}
		if o.metaErr != nil {
			problem(ProblemBadMetadata, o.key, "%v", o.metaErr)
			prev = nil
			continue
		}
		m := o.meta
		if m.connector != connector || m.partition != o.partition || m.first != o.first {
			problem(ProblemBadMetadata, o.key, "metadata says connector %s partition %d offset %d, the key %s, %d, %d",
				m.connector, m.partition, m.first, connector, o.partition, o.first)
		}
		if pr.FirstOffset < 0 || m.first < pr.FirstOffset {
			pr.FirstOffset = m.first
		}
		pr.LastOffset = max(pr.LastOffset, m.last)
		damaged := true
		switch {
		case o.sha256 != m.sha256:
			problem(ProblemAltered, o.key, "content sha256 %s, metadata says %s", o.sha256, m.sha256)
		case o.gzipErr != nil:
			problem(ProblemAltered, o.key, "content is not gzip: %v", o.gzipErr)
		case o.lines != m.records:
			problem(ProblemAltered, o.key, "content holds %d events, metadata says %d", o.lines, m.records)
		default:
			damaged = false
		}
		linked := false
		switch {
		case !chain:
		case m.prev == "":
			pr.ChainStarts = append(pr.ChainStarts, m.first)
			linked, running = true, ""
		case pr.Objects == 1:
			problem(ProblemBrokenChain, o.key, "the partition's first object links to sha256 %s, which no object has: "+
				"the objects before it are missing (deleted, or expired by a lifecycle rule)", m.prev)
		case prev == nil:
			problem(ProblemBrokenChain, o.key, "links to sha256 %s, and the object before it has no readable metadata", m.prev)
		case m.prev != prev.meta.sha256:
			if k, ok := shas[m.prev]; ok {
				problem(ProblemBrokenChain, o.key, "links to %s, not to the object before it, %s", k, prev.key)
			} else {
				problem(ProblemBrokenChain, o.key, "links to sha256 %s, which no object has; the object before it is %s (sha256 %s): "+
					"an object between them is missing or was replaced", m.prev, prev.key, prev.meta.sha256)
			}
		default:
			linked = true
			if prev.meta.chain == "" {
				running = "" // a writer knows no chain value before it either
			}
		}
		if chain {
			o.chain, o.chained = runningChain(running, o.sha256), true
			switch {
			case m.chain == "":
				pr.NoChainValue++
				o.chain = ""
			case !linked || damaged:
				// Reported already: go on from the stored value, so that
				// one damage is one problem.
				o.chain = m.chain
			case m.chain != runningChain(prevChain(prev, m), o.sha256):
				problem(ProblemChainMismatch, o.key, "chain-sha256 %s, but the chain value before it and its bytes give %s: "+
					"the object was rewritten (its sha256 and links recomputed)", m.chain, runningChain(prevChain(prev, m), o.sha256))
				o.chain = m.chain
			}
			running = o.chain
		}
		if !seen[m.batchFirst] {
			seen[m.batchFirst] = true
			deliveries = append(deliveries, span{m.batchFirst, m.batchLast})
		}
		prev = o
	}
	pr.Deliveries = len(deliveries)
	sort.Slice(deliveries, func(i, j int) bool { return deliveries[i].first < deliveries[j].first })
	for i := 1; i < len(deliveries); i++ {
		if a, b := deliveries[i-1], deliveries[i]; b.first <= a.last {
			problem(ProblemOverlap, "", "deliveries %d-%d and %d-%d overlap: their common offsets are in S3 twice", a.first, a.last, b.first, b.last)
		}
	}
}

// prevChain is the stored chain value before the object whose metadata is
// m, which links to prev: "" at a chain start.
func prevChain(prev *stored, m objectMeta) string {
	if m.prev == "" || prev == nil {
		return ""
	}
	return prev.meta.chain
}

// checkManifest checks a manifest against the objects' metadata, and
// marks the objects it lists as confirmed. It reports whether the manifest
// could be read and fits its name. Filtered (some hours read), an object
// not read is not missing.
func checkManifest(pr *PartitionReport, connector, key string, next int64, read manifestRead, byKey map[string]*stored, confirmed map[string]bool, deleted map[string]bool, filtered bool) bool {
	problem := func(kind, key, format string, args ...any) {
		pr.Problems = append(pr.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	if read.err != nil {
		problem(ProblemBadManifest, key, "%v", read.err)
		return false
	}
	m := read.m
	if m.Connector != connector || m.Partition != pr.Partition || m.Last+1 != next || len(m.Objects) == 0 {
		problem(ProblemBadManifest, key, "describes connector %s partition %d offsets %d-%d with %d objects, not what its name says",
			m.Connector, m.Partition, m.First, m.Last, len(m.Objects))
		return false
	}
	if last := m.Objects[len(m.Objects)-1]; m.Head != last.SHA256 {
		problem(ProblemBadManifest, key, "head %s is not the sha256 of its last object %s", m.Head, last.Key)
	}
	prev := m.Prev
	for _, mo := range m.Objects {
		o, ok := byKey[mo.Key]
		wantPrev := prev
		prev = mo.SHA256
		switch {
		case !ok && (filtered || deleted[mo.Key]): // deleted: its delete marker is the problem
			continue
		case !ok:
			problem(ProblemMissing, mo.Key, "listed by manifest %s (offsets %d-%d, %d events) but not in the bucket", key, mo.First, mo.Last, mo.Records)
			continue
		case o.metaErr != nil:
		case o.meta.sha256 != mo.SHA256:
			problem(ProblemAltered, mo.Key, "manifest %s recorded sha256 %s, the object says %s", key, mo.SHA256, o.meta.sha256)
		case mo.Chain != "" && o.meta.chain != "" && o.meta.chain != mo.Chain:
			// A manifest without chain values was written by an earlier
			// build, which may have adopted a later build's objects.
			problem(ProblemBadManifest, key, "records chain value %s for %s, the object's metadata says %s", mo.Chain, mo.Key, o.meta.chain)
		case o.meta.first != mo.First || o.meta.last != mo.Last || o.meta.records != mo.Records ||
			o.meta.batchFirst != m.First || o.meta.batchLast != m.Last || o.meta.batchStart != m.Start:
			problem(ProblemBadManifest, key, "lists %s as offsets %d-%d (%d records) of delivery %d-%d (start %d); the object's metadata says %s (start %d)",
				mo.Key, mo.First, mo.Last, mo.Records, m.First, m.Last, m.Start, o.meta.describe(), o.meta.batchStart)
		case filtered && o.meta.prev != wantPrev:
			problem(ProblemBrokenChain, mo.Key, "links to sha256 %s; by the manifest, the object before it has sha256 %s", o.meta.prev, wantPrev)
		}
		confirmed[mo.Key] = true
	}
	return true
}
