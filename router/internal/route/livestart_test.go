package route

import (
	"slices"
	"testing"
)

func TestLiveStarts(t *testing.T) {
	tableAB := &Table{Connectors: []Connector{{ID: "a"}, {ID: "b"}}}
	tableABC := &Table{Connectors: []Connector{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	s := newLiveStarts()
	if got := s.pending(tableAB); got != nil {
		t.Fatalf("before any assignment: got %v, want nothing", got)
	}
	s.assign([]int32{0, 1})
	want := []start{{"a", 0}, {"a", 1}, {"b", 0}, {"b", 1}}
	if got := s.pending(tableAB); !slices.Equal(got, want) {
		t.Fatalf("after assignment: got %v, want %v", got, want)
	}
	if got := s.ready(want); len(got) != 0 {
		t.Errorf("before the state topic is read: ready %v, want nothing", got)
	}
	// Another replica recorded b/1 before this one got partition 1.
	s.learn(map[string]map[int32]bool{"b": {1: true}}, []int32{0, 1})
	pend := s.pending(tableAB)
	if want := []start{{"a", 0}, {"a", 1}, {"b", 0}}; !slices.Equal(pend, want) {
		t.Fatalf("after reading the state topic: got %v, want %v", pend, want)
	}
	if got := s.ready(pend); !slices.Equal(got, pend) {
		t.Errorf("ready: got %v, want %v", got, pend)
	}
	s.done(pend)
	if got := s.pending(tableAB); got != nil {
		t.Fatalf("after the transaction committed: got %v, want nothing", got)
	}
	if s.complete != tableAB {
		t.Error("a complete table should be remembered (one comparison per transaction)")
	}
	// A reload adds c: pending again, for c only, and already verified.
	if got, want := s.pending(tableABC), []start{{"c", 0}, {"c", 1}}; !slices.Equal(got, want) {
		t.Fatalf("after a reload: got %v, want %v", got, want)
	}
	if s.unverified([]start{{"c", 0}, {"c", 1}}) {
		t.Error("partitions read once stay verified while owned")
	}
	// A new partition must be verified first; a revoked one is dropped.
	s.assign([]int32{2})
	s.revoke([]int32{0})
	got := s.pending(tableABC)
	if want := []start{{"a", 2}, {"b", 2}, {"c", 1}, {"c", 2}}; !slices.Equal(got, want) {
		t.Fatalf("after a rebalance: got %v, want %v", got, want)
	}
	if !s.unverified(got) {
		t.Error("a newly assigned partition should need the state topic read")
	}
	if r, want := s.ready(got), []start{{"c", 1}}; !slices.Equal(r, want) {
		t.Errorf("ready: got %v, want %v", r, want)
	}
}
