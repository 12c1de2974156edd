package s3sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// Report is what Verify found in a connector's objects. It serialises to
// JSON. OK tells whether anything is wrong.
type Report struct {
	Bucket     string            `json:"bucket"`
	Prefix     string            `json:"prefix"`
	Connector  string            `json:"connector"`
	Objects    int               `json:"objects"`
	Events     int64             `json:"events"`
	Manifests  int               `json:"manifests"`
	Problems   int               `json:"problems"`
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
	// Unconfirmed are objects that no manifest lists yet: a delivery in
	// progress, or one whose writer stopped before the end, which the
	// partition's next owner finishes.
	Unconfirmed []string  `json:"unconfirmed,omitempty"`
	Problems    []Problem `json:"problems,omitempty"`
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
	// ProblemBadMetadata: an object lacks the sink's metadata, or its
	// metadata contradicts its key.
	ProblemBadMetadata = "bad_metadata"
	// ProblemOverlap: two deliveries hold the same offsets (duplicates).
	ProblemOverlap = "overlap"
	// ProblemBadManifest: a manifest that cannot be read or contradicts its
	// name or its objects.
	ProblemBadManifest = "bad_manifest"
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
}

// Verify reads every object of the connector under the prefix (all
// projects and dates) and checks them: each object's bytes against its
// sha256 and record count; each partition's hash chain, in order of first
// offset; every manifest's objects against what is stored; and that no
// two deliveries hold the same offsets. It reads every object, so it costs
// one GET per object.
func (w *Writer) Verify(ctx context.Context) (*Report, error) {
	var dataKeys, manifestKeys []string
	p := s3.NewListObjectsV2Paginator(w.s3, &s3.ListObjectsV2Input{
		Bucket: aws.String(w.bucket),
		Prefix: aws.String(w.layout.listPrefix()),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list bucket %s: %w", w.bucket, w.classify(err))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if _, _, ok := w.layout.parseObjectKey(key); ok {
				dataKeys = append(dataKeys, key)
			} else if _, _, ok := w.layout.parseManifestKey(key); ok {
				manifestKeys = append(manifestKeys, key)
			}
		}
	}
	objects, err := w.readObjects(ctx, dataKeys)
	if err != nil {
		return nil, err
	}
	manifests := w.readManifests(ctx, manifestKeys)
	r := &Report{Bucket: w.bucket, Prefix: w.layout.prefix, Connector: w.layout.connector, Manifests: len(manifestKeys)}
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
		checkPartition(part(p), w.layout.connector, objs)
	}
	confirmed := make(map[string]bool)
	byKey := make(map[string]*stored, len(objects))
	for _, o := range objects {
		byKey[o.key] = o
	}
	for i, key := range manifestKeys {
		p, next, _ := w.layout.parseManifestKey(key)
		checkManifest(part(p), w.layout.connector, key, next, manifests[i], byKey, confirmed)
	}
	for _, o := range objects {
		if !confirmed[o.key] {
			part(o.partition).Unconfirmed = append(part(o.partition).Unconfirmed, o.key)
		}
	}
	for _, pr := range parts {
		slices.Sort(pr.Unconfirmed)
		r.Partitions = append(r.Partitions, *pr)
		r.Objects += pr.Objects
		r.Events += pr.Events
		r.Problems += len(pr.Problems)
	}
	sort.Slice(r.Partitions, func(i, j int) bool { return r.Partitions[i].Partition < r.Partitions[j].Partition })
	return r, nil
}

// readObjects GETs and hashes the objects, a few at a time. An object
// deleted since the listing is left out.
func (w *Writer) readObjects(ctx context.Context, keys []string) ([]*stored, error) {
	read := make([]*stored, len(keys))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyConcurrency)
	for i, key := range keys {
		g.Go(func() error {
			o, err := w.readObject(ctx, key)
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
	m   *manifest
	err error
}

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
func checkPartition(pr *PartitionReport, connector string, objs []*stored) {
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
		switch {
		case o.sha256 != m.sha256:
			problem(ProblemAltered, o.key, "content sha256 %s, metadata says %s", o.sha256, m.sha256)
		case o.gzipErr != nil:
			problem(ProblemAltered, o.key, "content is not gzip: %v", o.gzipErr)
		case o.lines != m.records:
			problem(ProblemAltered, o.key, "content holds %d events, metadata says %d", o.lines, m.records)
		}
		switch {
		case m.prev == "":
			pr.ChainStarts = append(pr.ChainStarts, m.first)
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

// checkManifest checks a manifest against the objects, and marks the
// objects it lists as confirmed.
func checkManifest(pr *PartitionReport, connector, key string, next int64, read manifestRead, byKey map[string]*stored, confirmed map[string]bool) {
	problem := func(kind, key, format string, args ...any) {
		pr.Problems = append(pr.Problems, Problem{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	}
	if read.err != nil {
		problem(ProblemBadManifest, key, "%v", read.err)
		return
	}
	m := read.m
	if m.Connector != connector || m.Partition != pr.Partition || m.Last+1 != next || len(m.Objects) == 0 {
		problem(ProblemBadManifest, key, "describes connector %s partition %d offsets %d-%d with %d objects, not what its name says",
			m.Connector, m.Partition, m.First, m.Last, len(m.Objects))
		return
	}
	if last := m.Objects[len(m.Objects)-1]; m.Head != last.SHA256 {
		problem(ProblemBadManifest, key, "head %s is not the sha256 of its last object %s", m.Head, last.Key)
	}
	for _, mo := range m.Objects {
		o, ok := byKey[mo.Key]
		switch {
		case !ok:
			problem(ProblemMissing, mo.Key, "listed by manifest %s (offsets %d-%d, %d events) but not in the bucket", key, mo.First, mo.Last, mo.Records)
			continue
		case o.metaErr == nil && o.meta.sha256 != mo.SHA256:
			problem(ProblemAltered, mo.Key, "manifest %s recorded sha256 %s, the object says %s", key, mo.SHA256, o.meta.sha256)
		}
		confirmed[mo.Key] = true
	}
}
