package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/router/internal/state"
)

// A start is one (connector, partition of the events topic) whose live
// start is not recorded yet.
type start struct {
	connector string
	partition int32
}

// liveStarts tracks which connectors of the routing table have their live
// start recorded, for the partitions of the events topic this replica
// owns. Backfill stops where the live routing began, so the router records
// it, per partition, in the first transaction that routes the partition
// with the connector in its table: in that transaction, so the record is
// exactly as durable as the routing.
//
// A partition that moves here from another replica may have been recorded
// there, so a partition is "verified" (the state topic read, after every
// transaction of its previous owner was decided) before anything is
// recorded for it.
type liveStarts struct {
	mu       sync.Mutex
	assigned map[int32]bool
	verified map[int32]bool
	recorded map[string]map[int32]bool
	// complete is a table for which nothing is pending: the common case,
	// answered by one pointer comparison per transaction.
	complete *Table
}

func newLiveStarts() *liveStarts {
	return &liveStarts{assigned: map[int32]bool{}, verified: map[int32]bool{}, recorded: map[string]map[int32]bool{}}
}

func (s *liveStarts) assign(ps []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		s.assigned[p] = true
	}
	s.complete = nil
}

func (s *liveStarts) revoke(ps []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		delete(s.assigned, p)
		delete(s.verified, p)
	}
}

// revokeAll forgets every partition, as when a session is replaced.
func (s *liveStarts) revokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.assigned)
	clear(s.verified)
}

// pending returns what t needs recorded on the partitions owned here.
func (s *liveStarts) pending(t *Table) []start {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t == s.complete {
		return nil
	}
	var out []start
	for _, c := range t.Connectors {
		for p := range s.assigned {
			if !s.recorded[c.ID][p] {
				out = append(out, start{c.ID, p})
			}
		}
	}
	if len(out) == 0 && len(s.assigned) > 0 {
		s.complete = t
	}
	slices.SortFunc(out, func(a, b start) int {
		if a.connector != b.connector {
			if a.connector < b.connector {
				return -1
			}
			return 1
		}
		return int(a.partition - b.partition)
	})
	return out
}

// unverified reports whether any of these partitions needs the state
// topic read before it is recorded.
func (s *liveStarts) unverified(ps []start) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range ps {
		if !s.verified[x.partition] {
			return true
		}
	}
	return false
}

// learn takes what the state topic holds, read after the partitions in
// stable were stable (their previous owners' transactions decided).
func (s *liveStarts) learn(recorded map[string]map[int32]bool, stable []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, ps := range recorded {
		if s.recorded[c] == nil {
			s.recorded[c] = map[int32]bool{}
		}
		for p := range ps {
			s.recorded[c][p] = true
		}
	}
	for _, p := range stable {
		if s.assigned[p] {
			s.verified[p] = true
		}
	}
	s.complete = nil
}

// done marks starts recorded, once their transaction committed.
func (s *liveStarts) done(ps []start) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range ps {
		if s.recorded[x.connector] == nil {
			s.recorded[x.connector] = map[int32]bool{}
		}
		s.recorded[x.connector][x.partition] = true
	}
}

// ready filters ps to the partitions verified (and still owned).
func (s *liveStarts) ready(ps []start) []start {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ps[:0:0]
	for _, x := range ps {
		if s.verified[x.partition] && s.assigned[x.partition] && !s.recorded[x.connector][x.partition] {
			out = append(out, x)
		}
	}
	return out
}

// prepareStarts returns the state records that record the pending live
// starts, for the transaction about to begin, and the starts they record.
//
// The live start of a partition is the router group's committed offset:
// this replica owns the partition, so nothing between that offset and the
// records it is about to route was routed by anyone, and every record from
// it on will be routed by t or a later table. An idle partition is recorded
// the same way, so a backfill knows where to stop without waiting for
// traffic. The offsets are fetched stable (KIP-447): a previous owner's
// open transaction is decided first, and the state topic read after it
// shows whatever that owner recorded.
func (r *Runner) prepareStarts(ctx context.Context, pend []start) ([]*kgo.Record, []start, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	events := r.pipeline.Topics.Events.Name
	var parts []int32
	for _, x := range pend {
		if !slices.Contains(parts, x.partition) {
			parts = append(parts, x.partition)
		}
	}
	offs, err := stableOffsets(ctx, r.sess.Client(), r.pipeline.Router.Group, events, parts)
	if err != nil {
		return nil, nil, err
	}
	if r.starts.unverified(pend) {
		snap, err := state.Read(ctx, r.kafkaOpts, r.pipeline.Topics.State.Name)
		if err != nil {
			return nil, nil, err
		}
		r.starts.learn(snap.Recorded(r.source), parts)
	}
	var recs []*kgo.Record
	var out []start
	for _, x := range r.starts.ready(pend) {
		off, ok := offs[x.partition]
		if !ok {
			continue // not answered: the next transaction tries again
		}
		// No commit yet (-1): the group starts this partition at its
		// beginning (the router's reset offset), all of it routed live.
		off = max(off, 0)
		rec, err := state.Record(r.pipeline.Topics.State.Name, state.Key(state.KindLiveStart, x.connector, x.partition),
			state.LiveStart{Topic: events, TopicID: r.source.ID, Offset: off, At: r.now().UTC()})
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
		out = append(out, x)
	}
	return recs, out, nil
}

// stableOffsets fetches a group's committed offsets of some partitions of
// a topic (-1: none), waiting until no transaction that commits them is
// open (KIP-447). Only these partitions are asked for: other replicas'
// partitions are always mid-transaction.
func stableOffsets(ctx context.Context, cl *kgo.Client, group, topic string, parts []int32) (map[int32]int64, error) {
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		req.RequireStable = true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, parts
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			return nil, fmt.Errorf("fetch the offsets of group %s: %w", group, err)
		}
		out := map[int32]int64{}
		unstable := false
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				switch err := kerr.ErrorForCode(p.ErrorCode); {
				case errors.Is(err, kerr.UnstableOffsetCommit):
					unstable = true
				case err != nil:
					return nil, fmt.Errorf("fetch the offsets of group %s, %s[%d]: %w", group, topic, p.Partition, err)
				default:
					out[p.Partition] = p.Offset
				}
			}
		}
		if !unstable {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch the offsets of group %s: still unstable: %w", group, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
