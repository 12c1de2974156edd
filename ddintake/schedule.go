package ddintake

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The states of an injected fault.
const (
	statePending = "pending" // its After has not passed yet
	stateActive  = "active"
	stateExpired = "expired" // its Count is used up or its For has passed
)

// FaultState is an injected fault and what it has done so far.
type FaultState struct {
	// ID is what Inject returned for the fault.
	ID int `json:"id"`
	// Fault is the fault as injected.
	Fault Fault `json:"fault"`
	// State is "pending", "active" or "expired".
	State string `json:"state"`
	// Hits counts the requests the fault hit.
	Hits int `json:"hits"`
}

// scheduled is one injected fault with its progress.
type scheduled struct {
	id    int
	fault Fault
	start time.Time
	hits  int
	rng   *rand.Rand
}

// state returns the fault's state at now.
func (sc *scheduled) state(now time.Time) string {
	switch {
	case now.Before(sc.start):
		return statePending
	case sc.fault.Count > 0 && sc.hits >= sc.fault.Count:
		return stateExpired
	case sc.fault.For > 0 && !now.Before(sc.start.Add(sc.fault.For)):
		return stateExpired
	}
	return stateActive
}

// hit decides whether the fault hits a request received at now, and counts the
// hit. The probability is drawn only for an active fault, so that the sequence of
// hits depends on the seed and the order of requests alone.
func (sc *scheduled) hit(now time.Time) bool {
	if sc.state(now) != stateActive {
		return false
	}
	if p := sc.fault.Probability; p > 0 && p < 1 && sc.rng.Float64() >= p {
		return false
	}
	sc.hits++
	return true
}

// left returns the time left in the fault's window at now, or zero without one.
func (sc *scheduled) left(now time.Time) time.Duration {
	if sc.fault.For <= 0 {
		return 0
	}
	return sc.start.Add(sc.fault.For).Sub(now)
}

// schedule holds the injected faults in the order they were injected. Its caller
// holds the lock.
type schedule struct {
	lastID int
	faults []*scheduled
}

// add schedules f, injected at now, and returns its ID.
func (s *schedule) add(f Fault, now time.Time) int {
	s.lastID++
	s.faults = append(s.faults, &scheduled{
		id:    s.lastID,
		fault: f,
		start: now.Add(f.After),
		rng:   rand.New(rand.NewPCG(f.Seed, f.Seed)),
	})
	return s.lastID
}

// remove drops the fault with the given ID and reports whether there was one.
func (s *schedule) remove(id int) bool {
	n := len(s.faults)
	s.faults = slices.DeleteFunc(s.faults, func(sc *scheduled) bool { return sc.id == id })
	return len(s.faults) < n
}

// clear drops every fault.
func (s *schedule) clear() {
	s.faults = nil
}

// list returns the state of every fault at now.
func (s *schedule) list(now time.Time) []FaultState {
	states := make([]FaultState, 0, len(s.faults))
	for _, sc := range s.faults {
		states = append(states, FaultState{ID: sc.id, Fault: sc.fault, State: sc.state(now), Hits: sc.hits})
	}
	return states
}

// plan is what the request-level faults do to one request.
type plan struct {
	latency time.Duration
	// answer is the fault that answers the request itself, if any.
	answer *Fault
	// answerID is the ID of that fault.
	answerID int
	// left is the time left in that fault's window.
	left time.Duration
}

// plan decides what the faults other than poison do to a request received at now.
// Every latency fault that hits adds its latency; the first status or drop fault
// that hits answers the request, and the faults after it are not drawn.
func (s *schedule) plan(now time.Time) plan {
	var p plan
	for _, sc := range s.faults {
		switch {
		case sc.fault.Kind == KindPoison:
		case sc.fault.Kind == KindLatency:
			if sc.hit(now) {
				p.latency += sc.fault.Latency
			}
		case p.answer == nil && sc.fault.terminal():
			if sc.hit(now) {
				f := sc.fault
				p.answer, p.answerID, p.left = &f, sc.id, sc.left(now)
			}
		}
	}
	return p
}

// poisoned is one entry that a poison fault hit.
type poisoned struct {
	index int
	match string
}

// poison returns the entries of a request received at now that a poison fault
// hits, ordered by index. A fault counts one hit per request, and only for a
// request that holds a matching message.
func (s *schedule) poison(now time.Time, logs []Log) []poisoned {
	var found []poisoned
	for _, sc := range s.faults {
		if sc.fault.Kind != KindPoison || sc.state(now) != stateActive {
			continue
		}
		var matched []int
		for i, l := range logs {
			if strings.Contains(l.Message, sc.fault.Match) {
				matched = append(matched, i)
			}
		}
		if len(matched) == 0 || !sc.hit(now) {
			continue
		}
		for _, i := range matched {
			found = append(found, poisoned{index: i, match: sc.fault.Match})
		}
	}
	slices.SortStableFunc(found, func(a, b poisoned) int { return a.index - b.index })
	return slices.CompactFunc(found, func(a, b poisoned) bool { return a.index == b.index })
}
