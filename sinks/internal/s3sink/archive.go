package s3sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Span is a range of partition positions, First to Last inclusive.
type Span struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// ErrTooManyDeliveries is returned by Archived when a range holds more
// deliveries than it may read.
var ErrTooManyDeliveries = errors.New("too many deliveries to read")

// Archived returns the spans of partition positions from..to-1 that
// finished deliveries cover, by their manifests (one LIST page per 1,000
// and one GET per delivery; at most limit deliveries), merged where they
// touch. Positions outside every span are missing from the bucket: a
// writer that reaches them writes them again. It does not check that a
// delivery's objects are still there: only Verify reads the objects.
func (w *Writer) Archived(ctx context.Context, partition int32, from, to int64, limit int) ([]Span, error) {
	ms, err := w.manifestsIn(ctx, partition, from, to, limit)
	if err != nil {
		return nil, err
	}
	var out []Span
	for _, m := range ms {
		if n := len(out); n > 0 && m.Start <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, m.Last)
			continue
		}
		out = append(out, Span{First: m.Start, Last: m.Last})
	}
	return out, nil
}

// Orphan is a finished delivery whose manifest remains while some of its
// objects are gone. The writer skips a delivery on its manifest, so a
// replay does not write such objects again. Deleting the manifest alone
// is not enough: a writer whose batch boundaries differ from the
// original's meets the delivery's remaining objects and stops with a
// mismatch; the whole delivery (its objects, then its manifest) must go.
type Orphan struct {
	Manifest string   `json:"manifest"`
	Span     Span     `json:"span"`
	Missing  []string `json:"missing_objects"`
	// Objects are all the delivery's objects, the missing ones included.
	Objects []string `json:"objects"`
}

// Orphans returns the deliveries of partition positions from..to-1 whose
// manifest lists an object that is not in the bucket: one HEAD per object,
// at most limit deliveries.
func (w *Writer) Orphans(ctx context.Context, partition int32, from, to int64, limit int) ([]Orphan, error) {
	ms, err := w.manifestsIn(ctx, partition, from, to, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Orphan, len(ms))
	errs := make([]error, len(ms))
	sem := make(chan struct{}, 8)
	var (
		wg sync.WaitGroup
		mu sync.Mutex // out[*].Missing
	)
	for i, m := range ms {
		out[i] = Orphan{Manifest: w.layout.manifestKey(partition, m.Last+1), Span: Span{First: m.Start, Last: m.Last}}
		for _, o := range m.Objects {
			out[i].Objects = append(out[i].Objects, o.Key)
		}
		for _, o := range m.Objects {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				_, err := w.headObject(ctx, o.Key)
				switch {
				case isNotFound(err):
					mu.Lock()
					out[i].Missing = append(out[i].Missing, o.Key)
					mu.Unlock()
				case err != nil:
					mu.Lock()
					errs[i] = fmt.Errorf("head object %s: %w", o.Key, w.classify(err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	orphans := out[:0]
	for _, o := range out {
		if len(o.Missing) > 0 {
			sort.Strings(o.Missing)
			orphans = append(orphans, o)
		}
	}
	return orphans, nil
}

// manifestsIn reads the manifests of the deliveries that hold positions
// from..to-1, in order.
func (w *Writer) manifestsIn(ctx context.Context, partition int32, from, to int64, limit int) ([]*manifest, error) {
	var names []int64
	p := s3.NewListObjectsV2Paginator(w.s3, &s3.ListObjectsV2Input{
		Bucket:     aws.String(w.bucket),
		Prefix:     aws.String(w.layout.manifestDir(partition)),
		StartAfter: aws.String(w.layout.manifestKey(partition, from)),
	})
	done := false
	for p.HasMorePages() && !done {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list manifests of partition %d: %w", partition, w.classify(err))
		}
		for _, o := range page.Contents {
			pp, next, ok := w.layout.parseManifestKey(aws.ToString(o.Key))
			if !ok || pp != partition {
				continue
			}
			names = append(names, next)
			// The first manifest named past to describes the delivery
			// that holds to-1, if one does.
			if next > to {
				done = true
				break
			}
		}
		if len(names) > limit {
			return nil, fmt.Errorf("partition %d: %w (over %d)", partition, ErrTooManyDeliveries, limit)
		}
	}
	ms := make([]*manifest, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, next := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ms[i], errs[i] = w.getManifest(ctx, partition, next)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := ms[:0]
	for _, m := range ms {
		if m.Last >= from && m.Start < to {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}
