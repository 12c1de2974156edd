//go:build integration

package s3sink

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// write writes b and checks that Through is b.Last().
func write(t *testing.T, w *Writer, b *batch.Batch) {
	t.Helper()
	res, err := w.Write(t.Context(), b)
	if err != nil {
		t.Fatalf("Write(partition %d, %d-%d): %v", b.Partition, b.Start, b.Last(), err)
	}
	if res.Through != b.Last() {
		t.Fatalf("Write(partition %d, %d-%d): got Through %d, want %d", b.Partition, b.Start, b.Last(), res.Through, b.Last())
	}
}

func TestWriteBatches(t *testing.T) {
	m := localMinio(t)
	ctx := t.Context()
	c := m.connector("s3-archive", m.newBucket(t, false), "/audit/")
	w := newWriter(t, c)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// 1500 events a second apart from 05:58 span three UTC hours; offsets
	// have gaps, and the second batch starts on a gap (Start < First).
	p0 := withGaps(sampleItems(1500, 0, 1))
	p1 := withGaps(sampleItems(300, 40, 2))
	batches := []*batch.Batch{
		batchOf(0, 0, through(p0, 499)),
		batchOf(0, 500, after(through(p0, 999), 499)),
		batchOf(1, 40, p1),
		batchOf(0, 1000, after(p0, 999)), // written by a new instance below
	}
	if batches[1].First() == batches[1].Start {
		t.Fatalf("batch 2 should start on a gap")
	}
	for _, b := range batches[:3] {
		write(t, w, b)
	}
	// A new owner of partition 0 (a restart) continues the same chain: it
	// finds the head in the manifest named by its start.
	w2 := newWriter(t, c)
	write(t, w2, batches[3])

	var wantKeys []string
	for _, b := range batches {
		d, err := build(w.layout, w.enc, b.Partition, b.Start, b.Items)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range d.objects {
			wantKeys = append(wantKeys, o.key)
		}
	}
	objs := readAll(t, w)
	var gotKeys []string
	for _, o := range objs {
		gotKeys = append(gotKeys, o.key)
	}
	slices.Sort(wantKeys)
	slices.Sort(gotKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("keys:\ngot  %v\nwant %v", gotKeys, wantKeys)
	}
	checkExactlyOnce(t, objs, slices.Concat(p0, p1))

	for _, o := range objs {
		m := o.meta
		var b *batch.Batch
		for _, cand := range batches {
			if cand.Partition == m.partition && cand.First() == m.batchFirst {
				b = cand
			}
		}
		switch {
		case b == nil:
			t.Errorf("%s: batch-first %d is no batch's first offset", o.key, m.batchFirst)
		case m.connector != "s3-archive" || m.batchStart != b.Start || m.batchLast != b.Last():
			t.Errorf("%s: metadata %+v, want connector s3-archive, batch %d/%d-%d", o.key, m, b.Start, b.First(), b.Last())
		case m.records != len(o.events) || m.first < b.First() || m.last > b.Last() || m.first > m.last:
			t.Errorf("%s: metadata %+v does not fit its %d events in batch %d-%d", o.key, m, len(o.events), b.First(), b.Last())
		}
		for _, ev := range o.events {
			hour := ev.GetOccurred().AsTime().UTC().Format("2006/01/02/15")
			if want := "audit/" + ev.GetProjectId() + "/" + hour + "/"; o.key[:len(want)] != want {
				t.Errorf("%s holds an event of %s", o.key, want)
				break
			}
		}
	}

	r := verifyClean(t, w, len(p0)+len(p1))
	if r.Objects != len(wantKeys) || r.Manifests != len(batches) || len(r.Partitions) != 2 {
		t.Errorf("Verify: got %d objects, %d manifests, %d partitions; want %d, %d, 2", r.Objects, r.Manifests, len(r.Partitions), len(wantKeys), len(batches))
	}
	if p := r.Partitions[0]; p.Deliveries != 3 || !slices.Equal(p.ChainStarts, []int64{0}) || p.FirstOffset != 0 || p.LastOffset != p0[len(p0)-1].Offset {
		t.Errorf("Verify partition 0: got %+v; want 3 deliveries, one chain from 0, offsets 0-%d", p, p0[len(p0)-1].Offset)
	}
	written := testutil.ToFloat64(w.m.objects) + testutil.ToFloat64(w2.m.objects)
	events := testutil.ToFloat64(w.m.events) + testutil.ToFloat64(w2.m.events)
	if int(written) != len(wantKeys) || int(events) != len(p0)+len(p1) {
		t.Errorf("metrics: %v objects, %v events written; want %d, %d", written, events, len(wantKeys), len(p0)+len(p1))
	}
	if got := testutil.ToFloat64(w.m.lastWrite); got == 0 {
		t.Errorf("last write time not set")
	}
}

// TestRacingWriters: two writers (a zombie and the new owner) write the
// same batches at the same time.
func TestRacingWriters(t *testing.T) {
	m := localMinio(t)
	c := m.connector("race", m.newBucket(t, false), "")
	items := withGaps(sampleItems(900, 0, 4))
	batches := []*batch.Batch{
		batchOf(0, 0, through(items, 299)),
		batchOf(0, 300, after(through(items, 599), 299)),
		batchOf(0, 600, after(items, 599)),
	}
	wa, wb := newWriter(t, c), newWriter(t, c)
	wantObjects := 0
	for _, b := range batches {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, w := range []*Writer{wa, wb} {
			wg.Go(func() {
				res, err := w.Write(t.Context(), b)
				if err == nil && res.Through != b.Last() {
					err = errors.New("Through is not the batch's last offset")
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("batch %d-%d: %v", b.Start, b.Last(), err)
		}
		d, err := build(wa.layout, wa.enc, 0, b.Start, b.Items)
		if err != nil {
			t.Fatal(err)
		}
		wantObjects += len(d.objects)
	}
	// Each batch: one writer claims the anchor, the other adopts; every
	// object is created once.
	if got := testutil.ToFloat64(wa.m.adoptions) + testutil.ToFloat64(wb.m.adoptions); int(got) != len(batches) {
		t.Errorf("adoptions: got %v, want %d", got, len(batches))
	}
	if got := testutil.ToFloat64(wa.m.objects) + testutil.ToFloat64(wb.m.objects); int(got) != wantObjects {
		t.Errorf("objects created: got %v, want %d", got, wantObjects)
	}
	checkExactlyOnce(t, readAll(t, wa), items)
	r := verifyClean(t, wa, len(items))
	if r.Objects != wantObjects || r.Partitions[0].Deliveries != len(batches) {
		t.Errorf("Verify: got %d objects in %d deliveries, want %d in %d", r.Objects, r.Partitions[0].Deliveries, wantObjects, len(batches))
	}
}

// TestDifferentBoundaries: writers that flushed at different points meet at
// the anchor; one adopts the other's delivery.
func TestDifferentBoundaries(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	items := withGaps(sampleItems(200, 0, 5)) // offsets 0-199 with gaps
	long, short := through(items, 100), through(items, 60)

	t.Run("longer first", func(t *testing.T) {
		c := m.connector("bounds", bucket, "longer-first")
		a, b := newWriter(t, c), newWriter(t, c)
		write(t, a, batchOf(0, 0, long))
		// B holds fewer records than A's delivery: it must wait for more.
		_, err := b.Write(t.Context(), batchOf(0, 0, short))
		var more *sink.NeedMoreError
		if !errors.As(err, &more) || more.Through != long[len(long)-1].Offset {
			t.Fatalf("Write(0-60) after A wrote 0-100: got %v, want NeedMoreError{Through: %d}", err, long[len(long)-1].Offset)
		}
		// The runtime grows the batch past A's end.
		write(t, b, batchOf(0, 0, through(items, 150)))
		if got := testutil.ToFloat64(b.m.adoptions); got != 1 {
			t.Errorf("B adoptions: got %v, want 1", got)
		}
		checkExactlyOnce(t, readAll(t, b), through(items, 150))
		if r := verifyClean(t, b, len(through(items, 150))); r.Partitions[0].Deliveries != 2 {
			t.Errorf("deliveries: got %d, want 2 (A's 0-100, B's 101-150)", r.Partitions[0].Deliveries)
		}
	})

	t.Run("shorter first", func(t *testing.T) {
		c := m.connector("bounds", bucket, "shorter-first")
		a, b := newWriter(t, c), newWriter(t, c)
		write(t, b, batchOf(0, 0, short))
		write(t, a, batchOf(0, 0, long)) // adopts 0-60, claims 61-100
		if got := testutil.ToFloat64(a.m.adoptions); got != 1 {
			t.Errorf("A adoptions: got %v, want 1", got)
		}
		checkExactlyOnce(t, readAll(t, a), long)
		if r := verifyClean(t, a, len(long)); r.Partitions[0].Deliveries != 2 {
			t.Errorf("deliveries: got %d, want 2 (B's 0-60, A's 61-100)", r.Partitions[0].Deliveries)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		for round := range 3 {
			c := m.connector("bounds", bucket, "concurrent-"+string(rune('a'+round)))
			a, b := newWriter(t, c), newWriter(t, c)
			var wg sync.WaitGroup
			var errA, errB error
			wg.Go(func() { _, errA = a.Write(t.Context(), batchOf(0, 0, long)) })
			wg.Go(func() {
				// B behaves like the runtime: on NeedMore it writes again
				// with the batch grown to the offset asked for.
				bt := batchOf(0, 0, short)
				for {
					_, errB = b.Write(t.Context(), bt)
					var more *sink.NeedMoreError
					if !errors.As(errB, &more) {
						return
					}
					bt = batchOf(0, 0, through(items, more.Through))
				}
			})
			wg.Wait()
			if errA != nil || errB != nil {
				t.Fatalf("round %d: A: %v; B: %v", round, errA, errB)
			}
			checkExactlyOnce(t, readAll(t, a), long)
			verifyClean(t, a, len(long))
		}
	})
}

// TestCrashBetweenObjects: a writer died after its anchor (and maybe some
// objects) but before the manifest; the partition's next owner finishes
// the delivery with the same bytes.
func TestCrashBetweenObjects(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	items := withGaps(sampleItems(600, 0, 6))
	tests := []struct {
		name    string
		crashed []batch.Item // the crashed writer's batch
		written int          // objects it wrote, anchor included
		next    []batch.Item // the next owner's batch (same start)
	}{
		{"anchor only, same batch", through(items, 299), 1, through(items, 299)},
		{"anchor and a sibling, same batch", through(items, 299), 2, through(items, 299)},
		{"all objects, no manifest", through(items, 299), -1, through(items, 299)},
		{"anchor only, longer batch", through(items, 199), 1, items},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := m.connector("crash", bucket, tt.name)
			crashed := newWriter(t, c)
			d, err := build(crashed.layout, crashed.enc, 0, 0, tt.crashed)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.objects) < 3 {
				t.Fatalf("the crashed batch has %d objects; want 3 or more", len(d.objects))
			}
			d.chain(link{})
			n := tt.written
			if n < 0 {
				n = len(d.objects)
			}
			for _, o := range d.objects[:n] {
				if err := crashed.putObject(t.Context(), d, o); err != nil {
					t.Fatal(err)
				}
			}
			next := newWriter(t, c)
			write(t, next, batchOf(0, 0, tt.next))
			objs := readAll(t, next)
			checkExactlyOnce(t, objs, tt.next)
			verifyClean(t, next, len(tt.next))
			// The crashed writer's delivery is finished as it would have
			// finished it: the same keys and bytes.
			stored := make(map[string]string)
			for _, o := range objs {
				stored[o.key] = o.meta.sha256
			}
			for _, o := range d.objects {
				if stored[o.key] != o.sha256 {
					t.Errorf("%s: stored sha256 %q, want the crashed writer's %s", o.key, stored[o.key], o.sha256)
				}
			}
		})
	}
}

func TestObjectLock(t *testing.T) {
	m := localMinio(t)
	ctx := t.Context()
	c := m.connector("locked", m.newBucket(t, true), "worm")
	c.Settings.(*Config).ObjectLock = &ObjectLock{Mode: "governance", Days: 2}
	w := newWriter(t, c)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	items := sampleItems(300, 0, 8)
	b := batchOf(0, 0, items)
	write(t, w, b)
	// A second owner writes the same batch: it adopts, and rewriting the
	// manifest of a locked bucket adds a version.
	write(t, newWriter(t, c), b)
	objs := readAll(t, w)
	checkExactlyOnce(t, objs, items)
	verifyClean(t, w, len(items))
	for _, o := range objs {
		out, err := w.s3.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(w.bucket), Key: aws.String(o.key)})
		if err != nil {
			t.Fatalf("retention of %s: %v", o.key, err)
		}
		until := aws.ToTime(out.Retention.RetainUntilDate)
		if want := time.Now().Add(48 * time.Hour); out.Retention.Mode != types.ObjectLockRetentionModeGovernance || until.Before(want.Add(-time.Minute)) || until.After(want) {
			t.Errorf("retention of %s: got %s until %v, want GOVERNANCE until about %v", o.key, out.Retention.Mode, until, want)
		}
	}
}
