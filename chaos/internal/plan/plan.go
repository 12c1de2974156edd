// Package plan turns a seed into a chaos run's schedule: which faults are
// injected, when, on what, and for how long. The same seed and options
// always give the same plan, so a failing run can be replayed.
package plan

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The fault kinds. Every plan injects each of them at least once.
const (
	Kill      Kind = "kill"       // SIGKILL a router or sink replica, restart it after Down
	MinIO     Kind = "minio"      // stop MinIO for Down
	Intake429 Kind = "intake-429" // the intake answers 429 with Retry-After for Down
	Intake500 Kind = "intake-500" // the intake answers 500 with Retry-After for Down
	Broker    Kind = "broker"     // restart the Kafka broker
	ScaleOut  Kind = "scale-out"  // add a replica to a sink connector
	ScaleIn   Kind = "scale-in"   // remove a replica from that connector (SIGTERM)
	Replay    Kind = "replay"     // stop a connector's sinks, auditctl replay, start them again
)

// Kinds lists every fault kind, in a stable order.
var Kinds = []Kind{Kill, MinIO, Intake429, Intake500, Broker, ScaleOut, ScaleIn, Replay}

// Options shape a plan.
type Options struct {
	// Window is how long faults are injected; publishing is spread over it too.
	Window time.Duration
	// Kills is the number of Kill faults (at least 1).
	Kills int
	// Storms is the number of each intake storm (at least 1).
	Storms int
	// Routers is the number of router replicas.
	Routers int
	// Connectors are the connector ids whose sinks the faults may target;
	// DatadogConnectors are those of them that deliver to the intake.
	Connectors []string
	// Replicas is the number of sink replicas of each connector at start.
	Replicas int
}

// Step is one fault.
type Step struct {
	At   time.Duration `json:"at"`
	Kind Kind          `json:"kind"`
	// Target is what the fault acts on: "router/1", "sink/<connector>/0", a
	// connector id (scale, replay), or empty (MinIO, intake, broker).
	Target string `json:"target,omitempty"`
	// Down is how long the fault lasts: the time a killed replica stays
	// down, MinIO stays stopped or a storm blows.
	Down time.Duration `json:"down,omitempty"`
}

func (s Step) String() string {
	out := fmt.Sprintf("t+%-5s %-10s", s.At.Round(time.Second), s.Kind)
	if s.Target != "" {
		out += " " + s.Target
	}
	if s.Down > 0 {
		out += fmt.Sprintf(" for %s", s.Down.Round(time.Second))
	}
	return out
}

// Make returns the plan of a seed: every kind at least once, in an order
// and at times the seed chooses, spread over the window. A scale-in always
// follows its scale-out, on the same connector, and the replay comes in the
// middle of the window.
func Make(seed uint64, o Options) []Step {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kinds := []Kind{MinIO, Broker, ScaleOut, Replay}
	for range max(o.Kills, 1) {
		kinds = append(kinds, Kill)
	}
	for range max(o.Storms, 1) {
		kinds = append(kinds, Intake429, Intake500)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	// The scale-in goes into the slot after its scale-out (ScaleOut is
	// never last: it is moved one slot back when it is).
	i := slices.Index(kinds, ScaleOut)
	kinds = slices.Insert(kinds, i+1, ScaleIn)

	slot := o.Window / time.Duration(len(kinds)+1)
	scaled := ""
	steps := make([]Step, 0, len(kinds))
	for n, k := range kinds {
		at := time.Duration(n)*slot + time.Duration(rng.Int64N(int64(slot/2)+1))
		s := Step{At: at, Kind: k}
		switch k {
		case Kill:
			s.Target = killTarget(rng, o)
			s.Down = 2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
		case MinIO:
			s.Down = 30 * time.Second
		case Intake429, Intake500:
			s.Down = 10*time.Second + time.Duration(rng.Int64N(int64(10*time.Second)))
		case ScaleOut:
			scaled = o.Connectors[rng.IntN(len(o.Connectors))]
			s.Target = scaled
		case ScaleIn:
			s.Target = scaled
		case Replay:
			s.Target = o.Connectors[rng.IntN(len(o.Connectors))]
			// In the middle of the run, whatever its slot: the connector
			// has history to replay, and live traffic follows.
			s.At = o.Window*2/5 + time.Duration(rng.Int64N(int64(o.Window/5)))
		}
		steps = append(steps, s)
	}
	slices.SortStableFunc(steps, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	return steps
}

// killTarget picks a router replica (one kill in three: the router's
// transactions are the heart of exactly-once) or a sink replica, among those
// that exist at start.
func killTarget(rng *rand.Rand, o Options) string {
	if rng.IntN(3) == 0 {
		return fmt.Sprintf("router/%d", rng.IntN(o.Routers))
	}
	n := rng.IntN(len(o.Connectors) * o.Replicas)
	return fmt.Sprintf("sink/%s/%d", o.Connectors[n/o.Replicas], n%o.Replicas)
}
