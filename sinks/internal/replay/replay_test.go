package replay

import (
	"context"
	"fmt"
	"testing"

	"github.com/auditstream/auditstream/sinks/internal/s3sink"
)

func TestParseFrom(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // From.String(), "" for an error
		offsets int
	}{
		{"earliest", "earliest", 0},
		{"2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z", 0},
		{"2026-03-01T10:00:00+01:00", "2026-03-01T09:00:00Z", 0},
		{"0:1200,3:900", "0:1200,3:900", 2},
		{"3:900, 0:1200", "0:1200,3:900", 2},
		{"", "", 0},
		{"latest", "", 0},
		{"0:12,0:13", "", 0},
		{"-1:5", "", 0},
		{"0:-5", "", 0},
		{"0:", "", 0},
		{"2026-03-01", "", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			f, err := ParseFrom(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", f)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tc.want)
			}
			if got := f.String(); got != tc.want || len(f.Offsets) != tc.offsets {
				t.Fatalf("got %s (%d offsets), want %s (%d)", got, len(f.Offsets), tc.want, tc.offsets)
			}
			if f.Earliest != (tc.in == "earliest") {
				t.Fatalf("got %+v", f)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to int64
		spans    []s3sink.Span
		want     string
		overlap  bool
	}{
		{"all archived", 0, 100, []s3sink.Span{{First: 0, Last: 99}}, "[]", false},
		{"nothing archived", 0, 100, nil, "[{0 99}]", false},
		{"tail missing", 0, 100, []s3sink.Span{{First: 0, Last: 49}}, "[{50 99}]", false},
		{"hole", 0, 100, []s3sink.Span{{First: 0, Last: 19}, {First: 40, Last: 99}}, "[{20 39}]", true},
		{"head missing", 10, 100, []s3sink.Span{{First: 50, Last: 120}}, "[{10 49}]", true},
		{"from inside a delivery", 10, 100, []s3sink.Span{{First: 0, Last: 59}, {First: 70, Last: 99}}, "[{60 69}]", true},
	} {
		got, overlap := missing(tc.from, tc.to, tc.spans)
		if s := fmt.Sprint(got); (s != tc.want && !(tc.want == "[]" && got == nil)) || overlap != tc.overlap {
			t.Errorf("%s: got %v overlap %v, want %s %v", tc.name, got, overlap, tc.want, tc.overlap)
		}
	}
}

// fakeArchive holds fixed archived spans of partition 0.
type fakeArchive []s3sink.Span

func (f fakeArchive) Archived(context.Context, int32, int64, int64, int) ([]s3sink.Span, error) {
	return f, nil
}

func (f fakeArchive) Orphans(context.Context, int32, int64, int64, int) ([]s3sink.Orphan, error) {
	return nil, nil
}

// TestCheckArchiveLeavesOutHiddenOffsets: markers and aborted records are
// in no delivery and are not missing either; archived deliveries after
// them are no overlap.
func TestCheckArchiveLeavesOutHiddenOffsets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		archived []s3sink.Span
		hidden   []s3sink.Span
		want     string
		overlap  bool
	}{
		// Offsets 0-9 aborted, marker 10, 11-20 committed and archived, marker 21.
		{"aborted then committed", []s3sink.Span{{First: 11, Last: 20}}, []s3sink.Span{{First: 0, Last: 10}, {First: 21, Last: 21}}, "[]", false},
		{"nothing hidden", []s3sink.Span{{First: 11, Last: 20}}, nil, "[{0 10} {21 21}]", true},
		// 0-4 lost data, 5-10 aborted and marker: 0-4 missing, and the
		// archived 11-20 after it is an overlap.
		{"lost before aborted", []s3sink.Span{{First: 11, Last: 20}}, []s3sink.Span{{First: 5, Last: 10}, {First: 21, Last: 21}}, "[{0 4}]", true},
		// A marker inside a lost stretch stays in it (one delivery), and
		// the aborted head of it is trimmed.
		{"marker inside", []s3sink.Span{{First: 21, Last: 21}}, []s3sink.Span{{First: 0, Last: 3}, {First: 10, Last: 10}}, "[{4 20}]", true},
		// 11-20 lost, followed by a marker only: no archived delivery follows.
		{"lost then marker", []s3sink.Span{{First: 0, Last: 10}}, []s3sink.Span{{First: 21, Last: 21}}, "[{11 20}]", false},
	} {
		pl := &Plan{Partitions: []Partition{{Partition: 0, Committed: 22, From: 0}}}
		var asked []s3sink.Span
		hidden := func(_ context.Context, _ int32, within []s3sink.Span, _ int64) ([]s3sink.Span, error) {
			asked = within
			return tc.hidden, nil
		}
		if err := checkArchive(context.Background(), fakeArchive(tc.archived), hidden, pl); err != nil {
			t.Fatal(err)
		}
		pp := pl.Partitions[0]
		if s := fmt.Sprint(pp.Missing); (s != tc.want && !(tc.want == "[]" && pp.Missing == nil)) || pp.Overlap != tc.overlap || pl.Overlap != tc.overlap {
			t.Errorf("%s: got %v overlap %v (plan %v), want %s %v", tc.name, pp.Missing, pp.Overlap, pl.Overlap, tc.want, tc.overlap)
		}
		if len(asked) == 0 {
			t.Errorf("%s: hidden was not asked about the gaps", tc.name)
		}
	}
}
