package backfill

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/auditstream/auditstream/router/internal/state"
)

// ErrNoLiveStart means the router has not yet recorded where the
// connector's live routing began in some partition: backfilling it now
// could duplicate what the router is about to send. Run again later.
var ErrNoLiveStart = errors.New("no live start recorded")

// span is the work on one partition: the offsets [from, end) that are not
// done yet.
type span struct {
	partition int32
	from      int64 // the first offset asked for (--from, within retention)
	end       int64 // the live start, or --to's offset if earlier
	done      state.Ranges
	next      int64 // the next offset to read
}

func (s *span) finished() bool { return s.next >= s.end }

// remaining counts the offsets left to read (transaction markers included).
func (s *span) remaining() int64 { return s.done.Missing(max(s.from, s.next), s.end) }

// plan computes the work per partition. from and to are the offsets of
// --from and --to per partition (to may be nil: up to the live start);
// live the recorded live starts; progress what earlier runs did.
func plan(parts []int32, from, to map[int32]int64, live map[int32]state.LiveStart, progress map[int32]state.Progress) ([]*span, error) {
	var missing []string
	var out []*span
	for _, p := range parts {
		ls, ok := live[p]
		if !ok {
			missing = append(missing, fmt.Sprint(p))
			continue
		}
		s := &span{partition: p, from: from[p], end: ls.Offset, done: progress[p].Done}
		if t, ok := to[p]; ok && to != nil {
			s.end = min(s.end, t)
		}
		s.next = s.done.Next(s.from)
		out = append(out, s)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w for partition %s yet: the router has not run a transaction for it since the connector was added (reload the router with the connector, then run this again)",
			ErrNoLiveStart, strings.Join(missing, ", "))
	}
	slices.SortFunc(out, func(a, b *span) int { return int(a.partition - b.partition) })
	return out, nil
}
