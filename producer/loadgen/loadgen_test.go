package loadgen

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/auditstream/auditstream/proto/record"
)

func TestEventsAreValidAndSkewed(t *testing.T) {
	g := New(Config{Tenants: 50, Seed: 1})
	counts := map[string]int{}
	ids := map[string]bool{}
	const n = 20_000
	for range n {
		ev := g.Next()
		if err := record.Validate(ev); err != nil {
			t.Fatalf("generated an invalid event: %v", err)
		}
		if ids[ev.GetId()] {
			t.Fatalf("duplicate id %s", ev.GetId())
		}
		ids[ev.GetId()] = true
		for _, tn := range ev.GetTenants() {
			counts[tn]++
		}
	}
	// Zipf skew: the busiest tenant gets far more than a uniform share.
	if got, uniform := counts["T0001"], n/50; got < 4*uniform {
		t.Errorf("T0001 got %d events, want a skewed share, at least %d", got, 4*uniform)
	}
	if len(counts) < 40 {
		t.Errorf("only %d tenants seen, want the long tail too", len(counts))
	}
}

func TestDeterministicForSeed(t *testing.T) {
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	a, b := New(Config{Seed: 7, Now: now}), New(Config{Seed: 7, Now: now})
	for range 100 {
		ea, eb := a.Next(), b.Next()
		ea.Id, eb.Id = "", "" // ids carry the wall clock in their prefix
		if !proto.Equal(ea, eb) {
			t.Fatalf("same seed, different events:\n%v\n%v", ea, eb)
		}
	}
}

func TestPadTo(t *testing.T) {
	g := New(Config{PadTo: 700, Seed: 3})
	for range 100 {
		if got := proto.Size(g.Next()); got < 650 || got > 760 {
			t.Fatalf("padded event is %d bytes, want about 700", got)
		}
	}
}

func TestActionsRestricted(t *testing.T) {
	g := New(Config{Actions: []string{"UserCreated", "CustomThing"}, Seed: 2})
	for range 200 {
		if a := g.Next().GetAction(); a != "UserCreated" && a != "CustomThing" {
			t.Fatalf("got action %q, want one of the two asked for", a)
		}
	}
}
