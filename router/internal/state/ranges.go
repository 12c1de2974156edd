package state

import "slices"

// Ranges is a set of offsets: sorted, disjoint, non-adjacent half-open
// ranges [lo, hi). A backfill's progress is a set rather than one "next
// offset" because a run with an earlier --from than the last one fills
// the gap below what is done and then skips what is done.
type Ranges [][2]int64

// Add returns the set with [lo, hi) added.
func (r Ranges) Add(lo, hi int64) Ranges {
	if lo >= hi {
		return r
	}
	out := make(Ranges, 0, len(r)+1)
	for _, x := range r {
		switch {
		case x[1] < lo || x[0] > hi: // apart, not even adjacent
			out = append(out, x)
		default: // overlapping or adjacent: merge
			lo, hi = min(lo, x[0]), max(hi, x[1])
		}
	}
	out = append(out, [2]int64{lo, hi})
	slices.SortFunc(out, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	return out
}

// Contains reports whether o is in the set.
func (r Ranges) Contains(o int64) bool {
	for _, x := range r {
		if o >= x[0] && o < x[1] {
			return true
		}
	}
	return false
}

// Next returns the first offset at or after from that is not in the set.
func (r Ranges) Next(from int64) int64 {
	for _, x := range r {
		if from >= x[0] && from < x[1] {
			from = x[1]
		}
	}
	return from
}

// Missing counts the offsets of [lo, hi) that are not in the set.
func (r Ranges) Missing(lo, hi int64) int64 {
	if lo >= hi {
		return 0
	}
	n := hi - lo
	for _, x := range r {
		a, b := max(x[0], lo), min(x[1], hi)
		if a < b {
			n -= b - a
		}
	}
	return n
}
