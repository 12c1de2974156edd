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
	spans := make([]Span, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, next := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := w.getManifest(ctx, partition, next)
			if err != nil {
				errs[i] = err
				return
			}
			spans[i] = Span{First: m.Start, Last: m.Last}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].First < spans[j].First })
	var out []Span
	for _, s := range spans {
		if s.Last < from || s.First >= to {
			continue
		}
		if n := len(out); n > 0 && s.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, s.Last)
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
