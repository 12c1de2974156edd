package batch

import (
	"testing"
	"time"
)

func items(offsets ...int64) []Item {
	var out []Item
	for _, o := range offsets {
		out = append(out, Item{Offset: o, Size: 100})
	}
	return out
}

func TestDueBySizeCountAndAge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		policy Policy
		adds   int
		at     time.Duration // when Due is asked, after the first add
		want   bool
	}{
		{"empty is never due", Policy{MaxEvents: 10, MaxBytes: 1 << 20, MaxAge: time.Second}, 0, time.Hour, false},
		{"count reached", Policy{MaxEvents: 3, MaxBytes: 1 << 20, MaxAge: time.Hour}, 3, 0, true},
		{"count not reached", Policy{MaxEvents: 4, MaxBytes: 1 << 20, MaxAge: time.Hour}, 3, 0, false},
		{"bytes reached", Policy{MaxEvents: 100, MaxBytes: 250, MaxAge: time.Hour}, 3, 0, true},
		{"age reached", Policy{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: time.Second}, 1, time.Second, true},
		{"age not reached", Policy{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: time.Second}, 1, 999 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.policy)
			for i, it := range items(1, 2, 3, 4)[:tt.adds] {
				b.Add(it, t0.Add(time.Duration(i)*time.Millisecond))
			}
			if got := b.Due(t0.Add(tt.at)); got != tt.want {
				t.Errorf("Due: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUntilCountsFromOldest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := New(Policy{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: 10 * time.Second})
	b.Add(Item{Offset: 1}, t0)
	b.Add(Item{Offset: 2}, t0.Add(8*time.Second))
	if got, want := b.Until(t0.Add(9*time.Second)), time.Second; got != want {
		t.Errorf("Until: got %v, want %v (from the oldest item)", got, want)
	}
}

func TestFlushBoundsAndKeepsRest(t *testing.T) {
	b := New(Policy{MaxEvents: 2, MaxBytes: 1 << 20, MaxAge: time.Hour})
	for _, it := range items(10, 11, 13) {
		b.Add(it, time.Unix(0, 0))
	}
	got := b.Flush("t", 3, 10, -1)
	if got.Len() != 2 || got.First() != 10 || got.Last() != 11 || got.Start != 10 || got.Partition != 3 || got.Bytes != 200 {
		t.Fatalf("Flush: got %d items %d..%d start %d bytes %d", got.Len(), got.First(), got.Last(), got.Start, got.Bytes)
	}
	if b.Len() != 1 || b.Last() != 13 || b.Bytes() != 100 {
		t.Errorf("left: got %d items, last %d, %d bytes; want 1, 13, 100", b.Len(), b.Last(), b.Bytes())
	}
}

func TestFlushByBytesTakesAtLeastOne(t *testing.T) {
	b := New(Policy{MaxEvents: 100, MaxBytes: 50, MaxAge: time.Hour})
	b.Add(Item{Offset: 1, Size: 80}, time.Unix(0, 0))
	b.Add(Item{Offset: 2, Size: 80}, time.Unix(0, 0))
	if got := b.Flush("t", 0, 0, -1); got.Len() != 1 {
		t.Errorf("got %d items, want the one oversized item alone", got.Len())
	}
}

func TestPrependAndDrop(t *testing.T) {
	b := New(Policy{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: time.Hour})
	for _, it := range items(5, 6) {
		b.Add(it, time.Unix(0, 0))
	}
	flushed := b.Flush("t", 0, 5, -1)
	b.Add(items(7)[0], time.Unix(1, 0))
	b.Prepend(flushed.Items)
	if b.Len() != 3 || b.Last() != 7 || !b.Due(time.Unix(1, 0)) {
		t.Fatalf("after Prepend: got %d items, last %d; want 3, 7, due at once", b.Len(), b.Last())
	}
	b.Drop(6)
	if b.Len() != 1 || b.Last() != 7 || b.Bytes() != 100 {
		t.Errorf("after Drop(6): got %d items, last %d, %d bytes; want 1, 7, 100", b.Len(), b.Last(), b.Bytes())
	}
}

func TestFlushThroughIgnoresBounds(t *testing.T) {
	b := New(Policy{MaxEvents: 2, MaxBytes: 1 << 20, MaxAge: time.Hour})
	for _, it := range items(1, 2, 3, 4, 5) {
		b.Add(it, time.Unix(0, 0))
	}
	if got := b.Flush("t", 0, 1, 4); got.Len() != 4 || got.Last() != 4 {
		t.Errorf("Flush through 4: got %d items ending %d, want 4 ending at 4", got.Len(), got.Last())
	}
}
