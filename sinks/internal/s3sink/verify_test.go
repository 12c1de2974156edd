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

// chained sets the objects' chain-sha256 as a writer does, from "" (or
// after an object without one).
func chained(objs []*stored, from int) []*stored {
	prev := ""
	for i, o := range objs {
		if i < from {
			continue
		}
		if o.meta.prev == "" {
			prev = ""
		}
		o.meta.chain = runningChain(prev, o.meta.sha256)
		prev = o.meta.chain
	}
	return objs
}

// TestChainValue: the running chain value catches a middle object
// rewritten with its sha256 and links recomputed: by the object's own
// chain-sha256 when the rewrite left it, by the head's chain value when it
// recomputed every later one too.
func TestChainValue(t *testing.T) {
	const newSHA = "00000000000000000000000000000000000000000000000000000000000000ee"
	rewrite := func(o []*stored, recompute bool) []*stored {
		o[1].sha256, o[1].meta.sha256, o[2].meta.prev = newSHA, newSHA, newSHA
		if recompute {
			chained(o, 0)
		}
		return o
	}
	tests := []struct {
		name      string
		edit      func(objs []*stored) []*stored // of chained objects
		want      []string
		noChain   int
		headMatch bool
	}{
		{"clean", func(o []*stored) []*stored { return o }, nil, 0, true},
		{"middle rewritten", func(o []*stored) []*stored { return rewrite(o, false) }, []string{ProblemChainMismatch + " k5"}, 0, true},
		{"middle rewritten, chain recomputed", func(o []*stored) []*stored { return rewrite(o, true) }, nil, 0, false},
		{"middle rewritten, a later chain value stripped", func(o []*stored) []*stored {
			o = rewrite(o, true)
			o[3].meta.chain = ""
			return chained(o, 4)
		}, nil, 1, false},
		{"legacy objects, then chained ones", func(o []*stored) []*stored {
			for _, x := range o {
				x.meta.chain = ""
			}
			return chained(o, 3)
		}, nil, 3, true},
		{"altered is one problem", func(o []*stored) []*stored { o[1].sha256 = newSHA; return o }, []string{ProblemAltered + " k5"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := chained(chainOf([]int64{0, 5, 9, 20}, []int64{21, 30, 40}), 0)
			head := Head{Last: 40, SHA256: objs[len(objs)-1].meta.sha256, Chain: objs[len(objs)-1].meta.chain, Manifest: "m"}
			if tt.name == "legacy objects, then chained ones" {
				head.Chain = runningChain(runningChain("", objs[3].meta.sha256), objs[4].meta.sha256)
			}
			objs = tt.edit(objs)
			pr := &PartitionReport{FirstOffset: -1, LastOffset: -1}
			checkPartition(pr, "c", objs, true)
			var got []string
			for _, p := range pr.Problems {
				got = append(got, p.Kind+" "+p.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems: got %v, want %v (%+v)", got, tt.want, pr.Problems)
			}
			if pr.NoChainValue != tt.noChain {
				t.Errorf("objects without a chain value: got %d, want %d", pr.NoChainValue, tt.noChain)
			}
			last := objs[len(objs)-1]
			byKey := map[string]*stored{last.key: last}
			m := &manifest{Last: 40, Head: last.meta.sha256, Objects: []manifestObject{{Key: last.key}}}
			hr := &PartitionReport{}
			checkHead(hr, head, []*manifest{m}, byKey, true)
			if match := len(hr.Problems) == 0; match != tt.headMatch {
				t.Errorf("head check: got problems %+v, want a match %v", hr.Problems, tt.headMatch)
			}
			if !tt.headMatch && len(hr.Problems) == 1 && hr.Problems[0].Kind != ProblemHeadMismatch {
				t.Errorf("head check: got %+v, want head_mismatch", hr.Problems)
			}
		})
	}
}
