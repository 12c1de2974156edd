package route

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// The property test's small worlds: few enough names that filters, events
// and forged headers collide often.
var (
	propTenants  = []string{"acme", "acme-test", "globex", "initech", "Acme"}
	propActions  = []string{"LoginSucceed", "LoginFailed", "UserCreated", "UserDeleted", "TokenRefreshed"}
	propProjects = []string{"P1", "P2"}
	tenantGlobs  = []string{"acme", "acme-test", "globex", "initech", "acme*", "*-test", "g?obex", "[a-b]*"}
	actionGlobs  = []string{"Login*", "UserCreated", "*Deleted", "TokenRefreshed", "User?reated"}
)

// RandomFilter returns a random connector filter over the small world.
func randomFilter(rng *rand.Rand) config.Filter {
	pick := func(from []string) []string {
		var out []string
		for _, s := range from {
			if rng.IntN(4) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	f := config.Filter{
		Tenants: config.Patterns{Include: pick(tenantGlobs), Exclude: pick(tenantGlobs)},
		Actions: config.Patterns{Include: pick(actionGlobs), Exclude: pick(actionGlobs)},
	}
	switch rng.IntN(3) {
	case 0:
		b := true
		f.Tenantless = &b
	case 1:
		b := false
		f.Tenantless = &b
	}
	return f
}

// randomTable is a table of 1 to 5 connectors with random filters.
func randomTable(t testing.TB, rng *rand.Rand) (*Table, map[string]*filter.Rule) {
	t.Helper()
	p := &config.Pipeline{
		Topics: config.Topics{DLQ: config.Topic{Name: "audit.dlq"}, ConnectorPrefix: "c."},
		Router: config.Router{MaxEventBytes: 64 << 10},
	}
	rules := map[string]*filter.Rule{}
	for i := range 1 + rng.IntN(5) {
		c := config.Connector{ID: fmt.Sprintf("c%d", i), Filter: randomFilter(rng)}
		p.Connectors = append(p.Connectors, c)
		rule, err := filter.New(c.Filter)
		if err != nil {
			t.Fatal(err)
		}
		rules["c."+c.ID] = rule
	}
	tb, err := NewTable(p)
	if err != nil {
		t.Fatal(err)
	}
	tb.RecordBytes = 256 << 10
	return tb, rules
}

// randomEvent returns an event with id, mostly valid.
func randomEvent(rng *rand.Rand, id string) *auditv1.Event {
	ev := &auditv1.Event{
		Id:        id,
		ProjectId: propProjects[rng.IntN(len(propProjects))],
		Action:    propActions[rng.IntN(len(propActions))],
		Occurred:  timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
	for range rng.IntN(4) {
		ev.Tenants = append(ev.Tenants, propTenants[rng.IntN(len(propTenants))]) // duplicates too
	}
	switch rng.IntN(40) {
	case 0:
		ev.Occurred = nil
	case 1:
		ev.Tenants = append(ev.Tenants, "a,b")
	case 2:
		ev.Type = "fatal"
	}
	return ev
}

// randomRecord encodes a random event by the contract and perturbs its
// headers at random: a header dropped, added, duplicated, its key's case
// changed, made invalid UTF-8, or contradicted; the headers shuffled; now
// and then a value that does not decode, or none of the contract headers.
func randomRecord(t testing.TB, rng *rand.Rand, id string) *kgo.Record {
	t.Helper()
	ev := randomEvent(rng, id)
	enc := record.Protobuf
	if rng.IntN(4) == 0 {
		enc = record.JSON
	}
	r, err := record.Marshal(ev, enc)
	if err != nil {
		t.Fatal(err)
	}
	hs := slices.Clone(r.Headers)
	perturbations := 0
	if rng.IntN(2) == 0 {
		perturbations = 1 + rng.IntN(2)
	}
	for range perturbations {
		if len(hs) == 0 || len(r.Value) == 0 {
			break
		}
		i := rng.IntN(len(hs))
		switch rng.IntN(9) {
		case 0:
			hs = slices.Delete(hs, i, i+1)
		case 1:
			hs = append(hs, hdr("tenant", propTenants[rng.IntN(len(propTenants))]))
		case 2:
			hs = append(hs, hs[i])
		case 3:
			hs[i].Key = strings.ToUpper(hs[i].Key[:1]) + hs[i].Key[1:]
		case 4:
			hs[i].Value = append(slices.Clone(hs[i].Value), 0xff)
		case 5:
			switch hs[i].Key {
			case "project":
				hs[i].Value = []byte(propProjects[rng.IntN(len(propProjects))])
			case "action":
				hs[i].Value = []byte(propActions[rng.IntN(len(propActions))])
			case "tenant":
				hs[i].Value = []byte(propTenants[rng.IntN(len(propTenants))])
			}
		case 6:
			rng.Shuffle(len(hs), func(a, b int) { hs[a], hs[b] = hs[b], hs[a] })
		case 7:
			hs = without(without(hs, "project"), "action")
		case 8:
			r.Value = r.Value[:rng.IntN(len(r.Value))]
		}
	}
	if rng.IntN(50) == 0 {
		r.Value = []byte{0xff, 0xff, 0xff}
	}
	r.Headers = hs
	return r
}

// wantRoute is the contract, brute force: whether a record is routed on
// its value (and the decoded value), or dead-lettered.
//
// The value must decode (by its content-type header, as a sink decodes it)
// and validate. A record with exactly-named project and action headers
// claims what its value says: exactly one project header and one action
// header equal to the value's, and one tenant header per tenant of the
// value, in any order. A record without both is routed on its value.
func wantRoute(r *kgo.Record) (*auditv1.Event, bool) {
	ev, err := record.Decode(r)
	if err != nil || record.Validate(ev) != nil {
		return nil, false
	}
	var projects, actions, tenants []string
	for _, h := range r.Headers {
		switch h.Key {
		case "project":
			projects = append(projects, string(h.Value))
		case "action":
			actions = append(actions, string(h.Value))
		case "tenant":
			tenants = append(tenants, string(h.Value))
		}
	}
	if len(projects) == 0 || len(actions) == 0 {
		return ev, true
	}
	want := slices.Clone(ev.GetTenants())
	slices.Sort(want)
	slices.Sort(tenants)
	ok := slices.Equal(projects, []string{ev.GetProjectId()}) && slices.Equal(actions, []string{ev.GetAction()}) && slices.Equal(tenants, want)
	return ev, ok
}

// TestRouteProperty routes random records with random header perturbations
// through random tables. Each connector receives exactly the records whose
// headers agree with their value (or that have none) and whose value its
// filter accepts, brute force; every other record is one dead letter; and
// every record that reaches a connector carries headers that agree with
// its value.
func TestRouteProperty(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		tb, rules := randomTable(t, rng)
		got := map[string]map[string]bool{} // topic -> ids
		want := map[string]map[string]bool{}
		for topic := range rules {
			got[topic], want[topic] = map[string]bool{}, map[string]bool{}
		}
		routed, dead := 0, 0
		for i := range 500 {
			id := fmt.Sprintf("s%d-%d", seed, i)
			in := randomRecord(t, rng, id)
			in.Topic, in.Partition, in.Offset = "audit.events", 0, int64(i)
			ev, ok := wantRoute(in)
			out, o := tb.Route(in, nil)
			if !ok {
				dead++
				if len(out) != 1 || out[0].Topic != "audit.dlq" || o.DLQReason == "" {
					t.Fatalf("seed %d record %d (headers %q): got %q, want one dead letter", seed, i, in.Headers, topicsOf(out))
				}
				continue
			}
			routed++
			for topic, rule := range rules {
				if rule.Match(record.MetaOf(ev)) {
					want[topic][id] = true
				}
			}
			for _, r := range out {
				rev, agree := wantRoute(r)
				if !agree {
					t.Fatalf("seed %d record %d: routed to %s with headers %q that disagree with its value", seed, i, r.Topic, r.Headers)
				}
				if rev.GetId() != id || got[r.Topic] == nil || got[r.Topic][id] {
					t.Fatalf("seed %d record %d: got id %q on %s (duplicate or unknown topic)", seed, i, rev.GetId(), r.Topic)
				}
				got[r.Topic][id] = true
			}
		}
		for topic := range rules {
			if !mapsEqual(got[topic], want[topic]) {
				t.Errorf("seed %d %s: got %d ids, want %d", seed, topic, len(got[topic]), len(want[topic]))
			}
		}
		if seed == 0 {
			t.Logf("seed 0: %d routed, %d dead letters", routed, dead)
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
