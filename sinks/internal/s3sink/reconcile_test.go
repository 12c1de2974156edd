package s3sink

import (
	"slices"
	"testing"
)

// rec is one record as read with read_uncommitted and control records.
type rec struct {
	off, producer        int64
	txn, control, commit bool
}

func TestLedgerBuilder(t *testing.T) {
	tests := []struct {
		name string
		recs []rec
		dlq  map[int64]int
		want []span
	}{
		{"plain", []rec{{off: 0}, {off: 1}, {off: 2}}, nil, []span{{0, 2, kindData}}},
		{"committed transaction", []rec{{off: 0}, {1, 7, true, false, false}, {2, 7, true, false, false}, {3, 7, false, true, true}, {off: 4}},
			nil, []span{{0, 2, kindData}, {3, 3, kindControl}, {4, 4, kindData}}},
		{"aborted transaction", []rec{{1, 7, true, false, false}, {2, 7, true, false, false}, {off: 3}, {4, 7, false, true, false}},
			nil, []span{{1, 2, kindAborted}, {3, 3, kindData}, {4, 4, kindControl}}},
		{"interleaved producers", []rec{{1, 7, true, false, false}, {2, 8, true, false, false}, {3, 7, true, false, false},
			{4, 8, false, true, true}, {5, 7, false, true, false}},
			nil, []span{{1, 1, kindAborted}, {2, 2, kindData}, {3, 3, kindAborted}, {4, 5, kindControl}}},
		{"open at the end", []rec{{off: 1}, {2, 7, true, false, false}}, nil, []span{{1, 1, kindData}, {2, 2, kindOpen}}},
		{"dead letters", []rec{{off: 0}, {off: 1}, {off: 2}, {off: 3}}, map[int64]int{1: 1, 2: 2},
			[]span{{0, 0, kindData}, {1, 2, kindDLQ}, {3, 3, kindData}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newLedgerBuilder(0)
			for _, r := range tt.recs {
				b.record(r.off, r.producer, r.txn, r.control, r.commit)
			}
			if got := b.ledger(0, 10, tt.dlq).spans; !slices.Equal(got, tt.want) {
				t.Errorf("spans: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	// Kafka: data 0-9, a marker at 10, data 11-19, aborted 20-21, a
	// marker at 22, data 23-29, a dead letter at 25.
	ledger := func(committed int64) *partitionLedger {
		return &partitionLedger{logStart: 0, end: 30, readTo: 30, committed: committed, spans: []span{
			{0, 9, kindData}, {10, 10, kindControl}, {11, 19, kindData}, {20, 21, kindAborted}, {22, 22, kindControl},
			{23, 24, kindData}, {25, 25, kindDLQ}, {26, 29, kindData}}}
	}
	full := []coverage{
		{first: 0, last: 9, records: 10, bounds: []int64{0, 9}, key: "m10"},
		{first: 11, last: 29, records: 15, bounds: []int64{11, 24, 26, 29}, key: "m30"},
	}
	head := &Head{Last: 29, SHA256: "h"}
	tests := []struct {
		name      string
		covs      []coverage
		head      *Head
		committed int64
		want      []string
	}{
		{"clean", full, head, 30, nil},
		{"replayed", full, head, 5, nil},
		{"no head, to the committed offset", full[:1], nil, 10, nil},
		{"partition missing", nil, head, 30, []string{ProblemMissingPartition}},
		{"gap", full[1:], head, 30, []string{ProblemGap}},
		{"truncated", full[:1], head, 30, []string{ProblemTruncated}},
		{"short delivery", []coverage{full[0], {first: 11, last: 29, records: 14, bounds: []int64{11, 29}, key: "m30"}}, head, 30,
			[]string{ProblemCount}},
		{"dead letter archived", []coverage{full[0], {first: 11, last: 29, records: 15, bounds: []int64{11, 25}, key: "m30"}}, head, 30,
			[]string{ProblemDLQOverlap}},
		{"commit ahead of the head", full[:1], &Head{Last: 9}, 30, []string{ProblemCommitAhead}},
		{"head beyond the topic", full, &Head{Last: 40}, 30, []string{ProblemTruncated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := &PartitionReport{}
			reconcile(pr, ledger(tt.committed), tt.head, slices.Clone(tt.covs))
			var got []string
			for _, p := range pr.Problems {
				got = append(got, p.Kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems: got %v, want %v (%+v)", got, tt.want, pr.Problems)
			}
		})
	}
}
