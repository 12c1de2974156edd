package s3sink

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// archiveListing is what the bucket holds under the connector's prefix.
type archiveListing struct {
	versioned bool
	data      []string // current data objects of the connector
	manifests []string // current manifests of the connector
	expected  []string // harmless keys and versions, for the report
	findings  []finding
	deleted   map[string]bool // keys whose current version is a delete marker
}

// finding is a problem found in the listing, with its partition (-1: the
// bucket's).
type finding struct {
	partition int32
	Problem
}

// listArchive lists the connector's keys. On a versioned bucket (Object
// Lock buckets always are) it lists every version and delete marker, so
// that a deleted or overwritten object is seen even though a plain
// listing no longer shows it.
//
// Expected, and not problems: the startup probe (_auditstream/probe-*),
// connector-test markers (_connector-test/), with all their versions and
// markers; a manifest's older versions with the same bytes (ETag) as its
// current one, which a writer that adopted a finished delivery wrote
// again. Every other delete marker or older version of a data object or
// a manifest is a problem.
func (w *Writer) listArchive(ctx context.Context, prog *progress) (*archiveListing, error) {
	l := &archiveListing{deleted: make(map[string]bool)}
	v, err := w.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(w.bucket)})
	switch {
	case err == nil:
		l.versioned = v.Status == types.BucketVersioningStatusEnabled || v.Status == types.BucketVersioningStatusSuspended
	case isDenied(err):
		l.findings = append(l.findings, finding{-1, Problem{Kind: ProblemUnchecked, Key: w.bucket,
			Detail: "the credentials may not read the bucket's versioning (s3:GetBucketVersioning): delete markers and overwritten versions were not checked"}})
	default:
		return nil, fmt.Errorf("get versioning of bucket %s: %w", w.bucket, w.classify(err))
	}
	if !l.versioned {
		p := s3.NewListObjectsV2Paginator(w.s3, &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket), Prefix: aws.String(w.layout.listPrefix())})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list bucket %s: %w", w.bucket, w.classify(err))
			}
			for _, o := range page.Contents {
				l.add(w.layout, aws.ToString(o.Key))
			}
			prog.say("listed %d objects", len(l.data)+len(l.manifests))
		}
		return l, nil
	}
	// Versions come key by key, newest first; markers in a list of their
	// own. Gather each key's, then judge.
	keys := make(map[string][]version)
	var order []string
	p := s3.NewListObjectVersionsPaginator(w.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(w.bucket), Prefix: aws.String(w.layout.listPrefix())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of bucket %s: %w", w.bucket, w.classify(err))
		}
		for _, o := range page.Versions {
			k := aws.ToString(o.Key)
			if keys[k] == nil {
				order = append(order, k)
			}
			keys[k] = append(keys[k], version{id: aws.ToString(o.VersionId), etag: aws.ToString(o.ETag), latest: aws.ToBool(o.IsLatest)})
		}
		for _, o := range page.DeleteMarkers {
			k := aws.ToString(o.Key)
			if keys[k] == nil {
				order = append(order, k)
			}
			keys[k] = append(keys[k], version{id: aws.ToString(o.VersionId), marker: true, latest: aws.ToBool(o.IsLatest)})
		}
		prog.say("listed %d keys", len(order))
	}
	for _, k := range order {
		vs := keys[k]
		var current *version
		for i := range vs {
			if vs[i].latest {
				current = &vs[i]
			}
		}
		rel := strings.TrimPrefix(k, w.layout.listPrefix())
		if strings.HasPrefix(rel, "_auditstream/probe-") || strings.HasPrefix(rel, "_connector-test/") {
			if len(vs) > 1 || current == nil || current.marker {
				l.expected = append(l.expected, fmt.Sprintf("%s: %d versions and markers (probe or connector test)", k, len(vs)))
			}
			continue
		}
		pd, _, isData := w.layout.parseObjectKey(k)
		pm, _, isManifest := w.layout.parseManifestKey(k)
		if !isData && !isManifest {
			continue // another connector's, or not the sink's: as with a plain listing
		}
		part := pd
		if isManifest {
			part = pm
		}
		if current != nil && !current.marker {
			l.add(w.layout, k)
		}
		// Versions are listed newest first. Older versions with the bytes
		// (ETag) of the newest one are harmless: a manifest written again
		// by a writer that adopted a finished delivery.
		var markers, others int
		var ids []string
		newest := ""
		for _, v := range vs {
			switch {
			case v.marker:
				markers++
			case newest == "":
				newest = v.etag
			case v.etag == newest:
				l.expected = append(l.expected, fmt.Sprintf("%s: version %s has the same bytes as the newer one (written again)", k, v.id))
			default:
				others++
				ids = append(ids, v.id)
			}
		}
		if markers > 0 {
			state := "an older delete marker"
			if current == nil || current.marker {
				state = "the current version is a delete marker: the key is deleted"
				l.deleted[k] = true
			}
			l.findings = append(l.findings, finding{part, Problem{Kind: ProblemDeleteMarker, Key: k,
				Detail: fmt.Sprintf("%d delete markers; %s; %d versions with content remain (a delete by someone who may delete; Object Lock keeps the versions)",
					markers, state, countContent(vs))}})
		}
		if others > 0 {
			l.findings = append(l.findings, finding{part, Problem{Kind: ProblemNoncurrentVersion, Key: k,
				Detail: fmt.Sprintf("overwritten: %d older versions with other bytes remain (%s)", others, strings.Join(ids, ", "))}})
		}
	}
	return l, nil
}

// version is one version or delete marker of a key.
type version struct {
	id, etag string
	marker   bool
	latest   bool
}

// countContent counts the versions that are not delete markers.
func countContent(vs []version) int {
	n := 0
	for _, v := range vs {
		if !v.marker {
			n++
		}
	}
	return n
}

// add files a current key as a data object or a manifest of the layout.
func (l *archiveListing) add(lay layout, key string) {
	if _, _, ok := lay.parseObjectKey(key); ok {
		l.data = append(l.data, key)
	} else if _, _, ok := lay.parseManifestKey(key); ok {
		l.manifests = append(l.manifests, key)
	}
}

// progress writes a line to an operator's terminal now and then.
type progress struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
	n    int
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

// say writes a line, at most one every two seconds.
func (p *progress) say(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 2*time.Second && !strings.HasPrefix(format, "done") {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "verify: "+format+"\n", args...)
}

// tick counts one unit of work of total and says so now and then.
func (p *progress) tick(format string, total int) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	p.n++
	n := p.n
	p.mu.Unlock()
	p.say(format, n, total)
}
