package backfill

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/router/internal/state"
)

func TestPlan(t *testing.T) {
	live := map[int32]state.LiveStart{0: {Offset: 100}, 1: {Offset: 50}, 2: {Offset: 0}}
	tests := []struct {
		name     string
		from, to map[int32]int64
		progress map[int32]state.Progress
		// per partition: next, end, remaining
		want map[int32][3]int64
	}{
		{
			name: "fresh, up to the live start",
			from: map[int32]int64{0: 10, 1: 0, 2: 0},
			want: map[int32][3]int64{0: {10, 100, 90}, 1: {0, 50, 50}, 2: {0, 0, 0}},
		},
		{
			name: "--to before the live start ends earlier; after it, the live start wins",
			from: map[int32]int64{0: 10, 1: 0, 2: 0},
			to:   map[int32]int64{0: 60, 1: 70, 2: 5},
			want: map[int32][3]int64{0: {10, 60, 50}, 1: {0, 50, 50}, 2: {0, 0, 0}},
		},
		{
			name:     "resumes after what is done",
			from:     map[int32]int64{0: 10, 1: 0, 2: 0},
			progress: map[int32]state.Progress{0: {Done: state.Ranges{{10, 40}}}, 1: {Done: state.Ranges{{0, 50}}}},
			want:     map[int32][3]int64{0: {40, 100, 60}, 1: {50, 50, 0}, 2: {0, 0, 0}},
		},
		{
			name:     "an earlier --from fills the gap below, then skips what is done",
			from:     map[int32]int64{0: 0, 1: 0, 2: 0},
			progress: map[int32]state.Progress{0: {Done: state.Ranges{{10, 40}}}},
			want:     map[int32][3]int64{0: {0, 100, 70}, 1: {0, 50, 50}, 2: {0, 0, 0}},
		},
		{
			name: "--from after the live start: nothing",
			from: map[int32]int64{0: 120, 1: 50, 2: 3},
			want: map[int32][3]int64{0: {120, 100, 0}, 1: {50, 50, 0}, 2: {3, 0, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, err := plan([]int32{2, 0, 1}, tt.from, tt.to, live, tt.progress)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != 3 || spans[0].partition != 0 || spans[2].partition != 2 {
				t.Fatalf("got %d spans, want 3 in partition order", len(spans))
			}
			for _, s := range spans {
				got := [3]int64{s.next, s.end, s.remaining()}
				if want := tt.want[s.partition]; got != want {
					t.Errorf("partition %d: got next, end, remaining %v, want %v", s.partition, got, want)
				}
				if got, want := s.finished(), tt.want[s.partition][2] == 0; got != want {
					t.Errorf("partition %d: finished %v, want %v", s.partition, got, want)
				}
			}
		})
	}
}

func TestPlanRefusesWithoutLiveStart(t *testing.T) {
	_, err := plan([]int32{0, 1, 2, 3}, map[int32]int64{}, nil, map[int32]state.LiveStart{1: {Offset: 5}}, nil)
	if !errors.Is(err, ErrNoLiveStart) {
		t.Fatalf("got %v, want ErrNoLiveStart", err)
	}
	if !strings.Contains(err.Error(), "partition 0, 2, 3 yet") {
		t.Errorf("the error should name the partitions: %v", err)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		done, total int64
		elapsed     time.Duration
		want        []string
	}{
		{0, 1000, 0, []string{"[>", "  0%", "0/1000 offsets", "ETA --"}},
		{100, 1000, 500 * time.Millisecond, []string{" 10%", "ETA --"}},
		{250, 1000, 5 * time.Second, []string{" 25%", "250/1000", "50/s", "ETA 15s"}},
		{1000, 1000, 20 * time.Second, []string{"[==============================]", "100%", "done in 20s"}},
		{0, 0, time.Second, []string{"100%", "done in 1s"}},
	}
	for _, tt := range tests {
		got := render(tt.done, tt.total, tt.elapsed)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("render(%d, %d, %v): got %q, want it to contain %q", tt.done, tt.total, tt.elapsed, got, w)
			}
		}
	}
}

func TestBarThrottles(t *testing.T) {
	var out strings.Builder
	now := time.Unix(0, 0)
	b := newBar(&out, false, 100, func() time.Time { return now })
	b.update(1) // first: drawn
	now = now.Add(time.Second)
	b.update(2) // within 5 s: not drawn
	now = now.Add(5 * time.Second)
	b.update(50) // drawn
	b.finish(100)
	if got, want := strings.Count(out.String(), "\n"), 3; got != want {
		t.Errorf("got %d lines, want %d:\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), "100%") {
		t.Errorf("the last line should show 100%%:\n%s", out.String())
	}
}
