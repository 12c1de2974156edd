// Package loadgen makes synthetic, realistic audit events: a few projects,
// many tenants with a Zipf-like skew (a handful of big tenants produce most
// of the traffic, as in real multi-tenant systems), and the well-known audit
// action names weighted the way identity traffic is (logins dominate).
//
// A Generator is deterministic for a seed, so tests and benchmarks can
// replay the same stream.
package loadgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Action is a well-known audit action with its relative weight.
type Action struct {
	Name   string
	Weight int
	Type   string // info, warn or error
}

// Actions are the well-known audit actions, weighted by how often they occur.
var Actions = []Action{
	{"LoginSucceed", 400, "info"},
	{"LoginFailed", 80, "warn"},
	{"LogoutSucceed", 150, "info"},
	{"OTPSent", 120, "info"},
	{"MagicLinkSent", 40, "info"},
	{"TokenRefreshed", 300, "info"},
	{"UserCreated", 30, "info"},
	{"UserModified", 40, "info"},
	{"UserDeleted", 5, "warn"},
	{"PasswordResetRequested", 15, "info"},
	{"PasswordChanged", 10, "info"},
	{"MFAEnrolled", 8, "info"},
	{"AccessKeyCreated", 4, "info"},
	{"AccessKeyDeleted", 2, "warn"},
	{"RoleAssigned", 6, "info"},
	{"PermissionDenied", 12, "error"},
	{"TenantCreated", 1, "info"},
	{"SSOConfigurationModified", 1, "warn"},
}

// Config shapes the generated load.
type Config struct {
	Projects int // default 3
	Tenants  int // default 50, shared by all projects
	// Actions restricts the actions to these names (default: all of
	// Actions). Names that are not well-known are used with weight 1.
	Actions []string
	// TenantlessShare is the share of project-level events, which carry
	// no tenant (default 0.05). A negative value means none.
	TenantlessShare float64
	// PadTo grows each event's data with a filler field until its
	// protobuf encoding is about this many bytes (0: no padding).
	PadTo int
	Seed  uint64
	// Now is the clock for occurred; default time.Now.
	Now func() time.Time
}

// Generator makes events. It is not safe for concurrent use.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	zipf     *rand.Zipf
	actions  []Action
	total    int
	projects []string
	tenants  []string
	random   io.Reader // the random bits of event ids
}

// New returns a Generator.
func New(c Config) *Generator {
	if c.Projects <= 0 {
		c.Projects = 3
	}
	if c.Tenants <= 0 {
		c.Tenants = 50
	}
	if c.TenantlessShare == 0 {
		c.TenantlessShare = 0.05
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], c.Seed)
	src := rand.NewChaCha8(seed)
	rng := rand.New(src)
	g := &Generator{cfg: c, rng: rng, random: src}
	// s=1.1 gives the long tail of a real tenant population: the top tenant
	// takes about a fifth of the traffic when there are 50.
	g.zipf = rand.NewZipf(rng, 1.1, 1, uint64(c.Tenants-1))
	for i := range c.Projects {
		g.projects = append(g.projects, fmt.Sprintf("P%03d", i+1))
	}
	for i := range c.Tenants {
		g.tenants = append(g.tenants, fmt.Sprintf("T%04d", i+1))
	}
	g.actions = pickActions(c.Actions)
	for _, a := range g.actions {
		g.total += a.Weight
	}
	return g
}

func pickActions(names []string) []Action {
	if len(names) == 0 {
		return Actions
	}
	var out []Action
	for _, n := range names {
		a := Action{Name: n, Weight: 1, Type: "info"}
		for _, k := range Actions {
			if k.Name == n {
				a = k
			}
		}
		out = append(out, a)
	}
	return out
}

// Next returns a new event.
func (g *Generator) Next() *auditv1.Event {
	a := g.action()
	user := fmt.Sprintf("U%06d", g.rng.IntN(100_000))
	ev := &auditv1.Event{
		Id:            g.id(),
		ProjectId:     g.projects[g.rng.IntN(len(g.projects))],
		Action:        a.Name,
		Type:          a.Type,
		ActorId:       user,
		UserId:        user,
		LoginIds:      []string{strings.ToLower(user) + "@example.com"},
		RemoteAddress: fmt.Sprintf("198.51.100.%d", g.rng.IntN(254)+1),
		Occurred:      timestamppb.New(g.cfg.Now()),
		Device:        pick(g.rng, "Desktop", "Mobile", "Tablet"),
		Method:        pick(g.rng, "otp", "magiclink", "password", "oauth", "sso", "passkey"),
		Geo:           pick(g.rng, "US", "DE", "GB", "FR", "IL", "JP", "BR", "IN"),
		Data:          g.data(a),
	}
	if g.rng.Float64() >= g.cfg.TenantlessShare {
		ev.Tenants = []string{g.tenants[g.zipf.Uint64()]}
		if g.rng.IntN(20) == 0 { // a user who belongs to two tenants
			ev.Tenants = append(ev.Tenants, g.tenants[g.rng.IntN(len(g.tenants))])
		}
	}
	if g.cfg.PadTo > 0 {
		pad(ev, g.cfg.PadTo)
	}
	return ev
}

func (g *Generator) action() Action {
	n := g.rng.IntN(g.total)
	for _, a := range g.actions {
		if n < a.Weight {
			return a
		}
		n -= a.Weight
	}
	return g.actions[len(g.actions)-1]
}

func (g *Generator) data(a Action) *structpb.Struct {
	fields := map[string]*structpb.Value{
		"userAgent": structpb.NewStringValue("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
		"sessionId": structpb.NewStringValue(fmt.Sprintf("S%016x", g.rng.Uint64())),
	}
	if a.Type != "info" {
		fields["failureReason"] = structpb.NewStringValue(pick(g.rng, "invalid credentials", "expired code", "rate limited", "insufficient permissions"))
	}
	return &structpb.Struct{Fields: fields}
}

func pick(r *rand.Rand, vs ...string) string { return vs[r.IntN(len(vs))] }

// id returns a UUIDv7: the time prefix from the clock, the random bits from
// the seeded source.
func (g *Generator) id() string {
	id, err := uuid.NewV7FromReader(g.random)
	if err != nil { // ChaCha8 never fails to read
		panic(err)
	}
	return id.String()
}

// pad grows an event's data with a "padding" field until its protobuf
// encoding is about size bytes.
func pad(ev *auditv1.Event, size int) {
	const overhead = 24 // the field's key, the struct entry and length bytes
	if n := size - proto.Size(ev) - overhead; n > 0 {
		ev.Data.Fields["padding"] = structpb.NewStringValue(strings.Repeat("x", n))
	}
}
