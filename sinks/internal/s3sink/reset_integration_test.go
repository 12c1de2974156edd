//go:build integration

package s3sink

import (
	"errors"
	"testing"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// TestPositionInsideDelivery: the consumer's position was moved by hand
// (or reset after the group's offsets expired) into the middle of a
// delivery.
func TestPositionInsideDelivery(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	items := sampleItems(400, 0, 12)
	first := through(items, 299)

	// setup writes the delivery 0-299 and returns the first offset of one
	// of its objects other than the anchor.
	setup := func(t *testing.T, prefix string) (*Writer, int64) {
		t.Helper()
		c := m.connector("reset", bucket, prefix)
		w := newWriter(t, c)
		write(t, w, batchOf(0, 0, first))
		d, err := build(w.layout, w.enc, 0, 0, first)
		if err != nil {
			t.Fatal(err)
		}
		return newWriter(t, c), d.objects[2].first
	}

	t.Run("at an object of a finished delivery", func(t *testing.T) {
		w, at := setup(t, "finished")
		// The records up to 299 are in S3 already: they are skipped, and
		// the chain continues from the finished delivery's manifest.
		write(t, w, batchOf(0, at, after(items, at-1)))
		checkExactlyOnce(t, readAll(t, w), items)
		r := verifyClean(t, w, len(items))
		if p := r.Partitions[0]; p.Deliveries != 2 || len(p.ChainStarts) != 1 {
			t.Errorf("got %d deliveries, chain starts %v; want 2 deliveries, one chain", p.Deliveries, p.ChainStarts)
		}
	})

	t.Run("at an object of an unfinished delivery", func(t *testing.T) {
		// The partition's latest claim tells the writer that the position
		// lies inside a delivery whose objects are all stored and whose
		// manifest is missing: it writes the manifest and goes on.
		w, at := setup(t, "unfinished")
		del(t, w, w.layout.manifestKey(0, 300))
		write(t, w, batchOf(0, at, after(items, at-1)))
		checkExactlyOnce(t, readAll(t, w), items)
		verifyClean(t, w, len(items))
	})

	t.Run("between records of a finished delivery", func(t *testing.T) {
		// No object begins at the position; the manifests tell the writer
		// that it lies inside a finished delivery.
		w, _ := setup(t, "between")
		at := groupItems(first)[0].items[1].Offset // the anchor's second record
		write(t, w, batchOf(0, at, after(items, at-1)))
		checkExactlyOnce(t, readAll(t, w), items)
		if p := verifyClean(t, w, len(items)).Partitions[0]; p.Deliveries != 2 || len(p.ChainStarts) != 1 {
			t.Errorf("got %d deliveries, chain starts %v; want 2 deliveries, one chain", p.Deliveries, p.ChainStarts)
		}
	})

	t.Run("inside a finished delivery that runs past the batch", func(t *testing.T) {
		w, _ := setup(t, "short")
		_, err := w.Write(t.Context(), batchOf(0, 10, after(through(items, 200), 9)))
		var more *sink.NeedMoreError
		if !errors.As(err, &more) || more.Through != 299 {
			t.Errorf("Write(10-200): got %v, want NeedMoreError{Through: 299}", err)
		}
	})

	t.Run("between records of an unfinished delivery", func(t *testing.T) {
		// As above, from between two records of the anchor.
		w, _ := setup(t, "between-unfinished")
		del(t, w, w.layout.manifestKey(0, 300))
		at := groupItems(first)[0].items[1].Offset
		write(t, w, batchOf(0, at, after(items, at-1)))
		checkExactlyOnce(t, readAll(t, w), items)
		verifyClean(t, w, len(items))
	})
}
