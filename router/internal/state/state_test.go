package state

import (
	"slices"
	"testing"
)

func TestRangesAdd(t *testing.T) {
	tests := []struct {
		name string
		in   Ranges
		lo   int64
		hi   int64
		want Ranges
	}{
		{"empty", nil, 5, 10, Ranges{{5, 10}}},
		{"nothing", Ranges{{1, 2}}, 5, 5, Ranges{{1, 2}}},
		{"after", Ranges{{1, 2}}, 5, 10, Ranges{{1, 2}, {5, 10}}},
		{"before", Ranges{{5, 10}}, 1, 2, Ranges{{1, 2}, {5, 10}}},
		{"adjacent merges", Ranges{{1, 5}}, 5, 10, Ranges{{1, 10}}},
		{"overlap merges", Ranges{{1, 6}, {8, 12}}, 5, 9, Ranges{{1, 12}}},
		{"inside", Ranges{{1, 20}}, 5, 9, Ranges{{1, 20}}},
		{"covers several", Ranges{{2, 3}, {5, 6}, {30, 40}}, 0, 10, Ranges{{0, 10}, {30, 40}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Add(tt.lo, tt.hi); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRangesNextMissingContains(t *testing.T) {
	r := Ranges{{10, 20}, {20, 25}, {30, 40}} // not normalized on purpose: Next chains
	tests := []struct {
		from, next int64
	}{{0, 0}, {10, 25}, {24, 25}, {25, 25}, {30, 40}, {45, 45}}
	for _, tt := range tests {
		if got := r.Next(tt.from); got != tt.next {
			t.Errorf("Next(%d): got %d, want %d", tt.from, got, tt.next)
		}
	}
	r = Ranges{{10, 20}, {30, 40}}
	if got, want := r.Missing(0, 50), int64(30); got != want {
		t.Errorf("Missing(0, 50): got %d, want %d", got, want)
	}
	if got, want := r.Missing(15, 35), int64(10); got != want {
		t.Errorf("Missing(15, 35): got %d, want %d", got, want)
	}
	if got, want := r.Missing(40, 30), int64(0); got != want {
		t.Errorf("Missing(40, 30): got %d, want %d", got, want)
	}
	for o, want := range map[int64]bool{9: false, 10: true, 19: true, 20: false, 39: true, 40: false} {
		if got := r.Contains(o); got != want {
			t.Errorf("Contains(%d): got %v, want %v", o, got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	k := Key(KindLiveStart, "s3-archive", 11)
	if k != "live-start/s3-archive/11" {
		t.Fatalf("Key: got %q", k)
	}
	kind, c, p, ok := ParseKey(k)
	if !ok || kind != KindLiveStart || c != "s3-archive" || p != 11 {
		t.Errorf("ParseKey(%q): got %q %q %d %v", k, kind, c, p, ok)
	}
	for _, bad := range []string{"", "live-start", "live-start//1", "live-start/a/-1", "live-start/a/x", "a/b/c/1"} {
		if _, _, _, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q): ok, want not ok", bad)
		}
	}
}

func TestSnapshot(t *testing.T) {
	src := Source{Topic: "e", ID: "ID"}
	s := Snapshot{
		Key(KindLiveStart, "a", 0): []byte(`{"topic":"e","offset":7}`),
		Key(KindLiveStart, "a", 2): []byte(`{"topic":"e","offset":9}`),
		Key(KindLiveStart, "b", 1): []byte(`{"topic":"e","offset":3}`),
		Key(KindProgress, "a", 0):  []byte(`{"topic":"e","done":[[1,5]]}`),
		Key(KindLiveStart, "c", 0): []byte(`{"topic":"other","offset":3}`),
		Key(KindLiveStart, "c", 1): []byte(`{"topic":"e","topic_id":"old","offset":3}`),
		Key(KindLiveStart, "c", 2): []byte(`{"topic":"e","topic_id":"ID","offset":4}`),
		"something/else":           []byte(`x`),
	}
	ls, err := s.LiveStarts(src, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Offset != 7 || ls[2].Offset != 9 {
		t.Errorf("LiveStarts(a): got %+v", ls)
	}
	pr, err := s.Progress(src, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := pr[0].Done; !slices.Equal(got, Ranges{{1, 5}}) {
		t.Errorf("Progress(a)[0]: got %v", got)
	}
	rec := s.Recorded(src)
	if len(rec) != 3 || !rec["a"][0] || !rec["a"][2] || rec["a"][1] || !rec["b"][1] || !rec["c"][2] || rec["c"][0] || rec["c"][1] {
		t.Errorf("Recorded: got %v", rec)
	}
	if ls, _ := s.LiveStarts(src, "c"); len(ls) != 1 || ls[2].Offset != 4 {
		t.Errorf("LiveStarts(c): got %+v, want only partition 2's (the others are another topic's)", ls)
	}
	s[Key(KindLiveStart, "a", 0)] = []byte(`not json`)
	if _, err := s.LiveStarts(src, "a"); err == nil {
		t.Error("LiveStarts of a bad value: no error")
	}
}
