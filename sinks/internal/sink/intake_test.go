package sink

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakePauser records what is paused, as franz-go does: by topic and
// partition, whatever the assignment.
type fakePauser struct{ paused map[int32]bool }

func (f *fakePauser) PauseFetchPartitions(m map[string][]int32) map[string][]int32 {
	for _, p := range m[topic] {
		f.paused[p] = true
	}
	return nil
}

func (f *fakePauser) ResumeFetchPartitions(m map[string][]int32) {
	for _, p := range m[topic] {
		delete(f.paused, p)
	}
}

func records(n, size int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Offset: int64(i), Value: make([]byte, size)}
	}
	return out
}

// TestIntakePausesAndResumes: the partition pauses when its queue reaches
// the limit, resumes once half of it is taken, and a closed intake resumes
// it and ignores what comes after; the gauge follows exactly.
func TestIntakePausesAndResumes(t *testing.T) {
	all := func(*kgo.Record) bool { return true }
	upTo := func(n int) func(*kgo.Record) bool {
		return func(*kgo.Record) bool { n--; return n >= 0 }
	}
	tests := []struct {
		name       string
		steps      func(in *intake)
		wantPaused bool
		wantGauge  float64
	}{
		{"under the limit", func(in *intake) { in.push(records(9, 100), -1) }, false, 0},
		{"at the limit", func(in *intake) { in.push(records(10, 100), -1) }, true, 1},
		{"pushed twice past the limit", func(in *intake) { in.push(records(10, 100), -1); in.push(records(10, 100), -1) }, true, 1},
		{"less than half taken", func(in *intake) { in.push(records(10, 100), -1); in.take(upTo(5)) }, true, 1},
		{"more than half taken", func(in *intake) { in.push(records(10, 100), -1); in.take(upTo(6)) }, false, 0},
		{"closed while paused", func(in *intake) { in.push(records(10, 100), -1); in.close() }, false, 0},
		{"pushed after close", func(in *intake) { in.close(); in.push(records(10, 100), -1) }, false, 0},
		{"taken after close", func(in *intake) {
			in.push(records(10, 100), -1)
			in.close()
			if recs, _, _ := in.take(all); len(recs) != 0 {
				t.Errorf("took %d records from a closed intake, want 0", len(recs))
			}
		}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePauser{paused: map[int32]bool{}}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "paused"})
			in := newIntake(f, topic, 2, 1000, g)
			tt.steps(in)
			if got := f.paused[2]; got != tt.wantPaused {
				t.Errorf("partition paused: got %v, want %v", got, tt.wantPaused)
			}
			if got := testutil.ToFloat64(g); got != tt.wantGauge {
				t.Errorf("paused gauge: got %v, want %v", got, tt.wantGauge)
			}
		})
	}
}

// TestIntakeTakesInOrder: records come out in the order they were pushed,
// as far as accept takes them, with the end of the log and whether more
// wait.
func TestIntakeTakesInOrder(t *testing.T) {
	in := newIntake(&fakePauser{paused: map[int32]bool{}}, topic, 0, 1<<20, prometheus.NewGauge(prometheus.GaugeOpts{Name: "p"}))
	in.push(records(5, 10), 7)
	in.push(records(5, 10), 12)
	n := 0
	recs, end, more := in.take(func(*kgo.Record) bool { n++; return n <= 7 })
	got := make([]int64, 0, len(recs))
	for _, r := range recs {
		got = append(got, r.Offset)
	}
	if want := []int64{0, 1, 2, 3, 4, 0, 1}; !slices.Equal(got, want) || end != 12 || !more {
		t.Errorf("take: got %v, end %d, more %v; want %v, end 12, more true", got, end, more, want)
	}
}

// TestBudgetOverdraft: one partition at a time may overdraw the budget, and
// giving it up wakes those waiting.
func TestBudgetOverdraft(t *testing.T) {
	b := newBudget(100)
	if !b.overdraw(1) {
		t.Fatal("partition 1: got no overdraft, want it")
	}
	if !b.overdraw(1) {
		t.Fatal("partition 1, asking again: got no overdraft, want the one it holds")
	}
	if b.overdraw(2) {
		t.Fatal("partition 2: got the overdraft partition 1 holds")
	}
	changed := b.changed()
	b.settle(2) // not its to give up
	select {
	case <-changed:
		t.Fatal("settling an overdraft not held woke the waiters")
	default:
	}
	b.settle(1)
	select {
	case <-changed:
	default:
		t.Fatal("settling the overdraft did not wake the waiters")
	}
	if !b.overdraw(2) {
		t.Fatal("partition 2: got no overdraft after partition 1 gave it up")
	}
}
