package s3sink

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// chainOf makes the stored objects of deliveries, each given as the first
// offsets of its objects (and its last offset), linked as a writer links
// them.
func chainOf(deliveries ...[]int64) []*stored {
	var out []*stored
	prev := ""
	for _, d := range deliveries {
		firsts, last := d[:len(d)-1], d[len(d)-1]
		for i, f := range firsts {
			end := last
			if i+1 < len(firsts) {
				end = firsts[i+1] - 1
			}
			sha := fmt.Sprintf("%064x", f+1)
			out = append(out, &stored{
				key: fmt.Sprintf("k%d", f), partition: 0, first: f, sha256: sha, lines: 2,
				meta: objectMeta{connector: "c", partition: 0, first: f, last: end, records: 2, sha256: sha, prev: prev,
					batchStart: firsts[0], batchFirst: firsts[0], batchLast: last},
			})
			prev = sha
		}
	}
	return out
}

func TestCheckPartition(t *testing.T) {
	type found struct{ kind, key string }
	tests := []struct {
		name        string
		objs        []*stored
		edit        func(objs []*stored) []*stored // nil: untouched
		want        []found
		chainStarts []int64
	}{
		{"clean", chainOf([]int64{0, 5, 9, 20}, []int64{21, 30, 40}), nil, nil, []int64{0}},
		{"chain restart", chainOf([]int64{0, 5, 20}, []int64{21, 30, 40}), func(o []*stored) []*stored { o[2].meta.prev = ""; return o }, nil, []int64{0, 21}},
		{"altered", chainOf([]int64{0, 5, 20}), func(o []*stored) []*stored { o[1].sha256 = fmt.Sprintf("%064x", 99); return o },
			[]found{{ProblemAltered, "k5"}}, []int64{0}},
		{"lines", chainOf([]int64{0, 5, 20}), func(o []*stored) []*stored { o[1].lines = 3; return o }, []found{{ProblemAltered, "k5"}}, []int64{0}},
		{"not gzip", chainOf([]int64{0, 5, 20}), func(o []*stored) []*stored { o[0].lines, o[0].gzipErr = -1, errors.New("bad header"); return o },
			[]found{{ProblemAltered, "k0"}}, []int64{0}},
		{"missing middle", chainOf([]int64{0, 5, 9, 20}), func(o []*stored) []*stored { return slices.Delete(o, 1, 2) }, []found{{ProblemBrokenChain, "k9"}}, []int64{0}},
		{"truncated start", chainOf([]int64{0, 5, 9, 20}), func(o []*stored) []*stored { return o[1:] }, []found{{ProblemBrokenChain, "k5"}}, nil},
		{"bad metadata", chainOf([]int64{0, 5, 9, 20}), func(o []*stored) []*stored { o[1].metaErr = errors.New("sha256 missing"); return o },
			[]found{{ProblemBadMetadata, "k5"}, {ProblemBrokenChain, "k9"}}, []int64{0}},
		{"other connector", chainOf([]int64{0, 5, 20}), func(o []*stored) []*stored { o[1].meta.connector = "d"; return o },
			[]found{{ProblemBadMetadata, "k5"}}, []int64{0}},
		{"overlap", chainOf([]int64{0, 5, 20}, []int64{21, 30}), func(o []*stored) []*stored {
			o[2].meta.batchFirst, o[2].meta.batchStart = 15, 15
			return o
		}, []found{{ProblemOverlap, ""}}, []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.objs
			if tt.edit != nil {
				objs = tt.edit(objs)
			}
			pr := &PartitionReport{FirstOffset: -1, LastOffset: -1}
			checkPartition(pr, "c", objs, true)
			var got []found
			for _, p := range pr.Problems {
				got = append(got, found{p.Kind, p.Key})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems: got %v, want %v (%+v)", got, tt.want, pr.Problems)
			}
			if !slices.Equal(pr.ChainStarts, tt.chainStarts) {
				t.Errorf("chain starts: got %v, want %v", pr.ChainStarts, tt.chainStarts)
			}
			if pr.Objects != len(objs) {
				t.Errorf("objects: got %d, want %d", pr.Objects, len(objs))
			}
		})
	}
}

func TestInHours(t *testing.T) {
	hour := func(s string) time.Time {
		h, err := time.Parse("2006-01-02T15", s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	key := "p/proj/2026/11/25/06/c-0-00000000000000000042.ndjson.gz"
	tests := []struct {
		name     string
		key      string
		from, to time.Time
		want     bool
	}{
		{"unbounded", key, time.Time{}, time.Time{}, true},
		{"within", key, hour("2026-11-25T06"), hour("2026-11-25T06"), true},
		{"before", key, hour("2026-11-25T07"), time.Time{}, false},
		{"after", key, time.Time{}, hour("2026-11-25T05"), false},
		{"no prefix", "proj/2026/11/25/06/c-0-00000000000000000042.ndjson.gz", hour("2026-11-25T06"), time.Time{}, true},
		{"unplaceable is read", "c-0-00000000000000000042.ndjson.gz", hour("2030-01-01T00"), time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := inHours(tt.key, tt.from, tt.to); got != tt.want {
				t.Errorf("inHours: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameTopicID(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"0Cn6pT3aTbKrZYLywGLnXg==", "0Cn6pT3aTbKrZYLywGLnXg", true},               // franz-go's String, Kafka's URL-safe form
		{"0Cn6pT3aTbKrZYLywGLnXg==", "d029faa5-3dda-4db2-ab65-82f2c062e75e", true}, // hex with dashes
		{"0Cn6pT3aTbKrZYLywGLnXg==", "AAAAAAAAAAAAAAAAAAAAAA==", false},
		{"not-an-id", "not-an-id", true},
		{"not-an-id", "other", false},
	}
	for _, tt := range tests {
		if got := sameTopicID(tt.a, tt.b); got != tt.want {
			t.Errorf("sameTopicID(%q, %q): got %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
