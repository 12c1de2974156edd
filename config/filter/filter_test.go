package filter

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

func ptr(b bool) *bool { return &b }

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		filter  config.Filter
		action  string
		tenants []string
		want    bool
	}{
		{"empty filter passes all", config.Filter{}, "LoginSucceed", []string{"acme"}, true},
		{"empty filter passes tenantless", config.Filter{}, "LoginSucceed", nil, true},
		{"action include literal", config.Filter{Actions: config.Patterns{Include: []string{"UserCreated"}}}, "UserCreated", nil, true},
		{"action include miss", config.Filter{Actions: config.Patterns{Include: []string{"UserCreated"}}}, "UserDeleted", nil, false},
		{"action include glob", config.Filter{Actions: config.Patterns{Include: []string{"Login*"}}}, "LoginFailed", nil, true},
		{"action glob is case-sensitive", config.Filter{Actions: config.Patterns{Include: []string{"login*"}}}, "LoginFailed", nil, false},
		{"action glob is whole-string", config.Filter{Actions: config.Patterns{Include: []string{"Login"}}}, "LoginFailed", nil, false},
		{"action question mark", config.Filter{Actions: config.Patterns{Include: []string{"User?reated"}}}, "UserCreated", nil, true},
		{"action class", config.Filter{Actions: config.Patterns{Include: []string{"[LU]*"}}}, "UserCreated", nil, true},
		{"action exclude", config.Filter{Actions: config.Patterns{Exclude: []string{"Token*"}}}, "TokenRefreshed", []string{"a"}, false},
		{"action exclude beats include", config.Filter{Actions: config.Patterns{Include: []string{"*"}, Exclude: []string{"LoginFailed"}}}, "LoginFailed", nil, false},
		{"tenant include", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}, "A", []string{"acme"}, true},
		{"tenant include miss", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}, "A", []string{"globex"}, false},
		{"tenant include any of several", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}, "A", []string{"globex", "acme"}, true},
		{"tenant exclude", config.Filter{Tenants: config.Patterns{Exclude: []string{"acme-test"}}}, "A", []string{"acme-test"}, false},
		{"tenant exclude wins over co-tenant include", config.Filter{Tenants: config.Patterns{Include: []string{"acme*"}, Exclude: []string{"acme-test"}}}, "A", []string{"acme", "acme-test"}, false},
		{"tenant exclude wins without include", config.Filter{Tenants: config.Patterns{Exclude: []string{"x"}}}, "A", []string{"y", "x"}, false},
		{"tenant exclude only passes others", config.Filter{Tenants: config.Patterns{Exclude: []string{"x"}}}, "A", []string{"y"}, true},
		{"tenant glob crosses slash", config.Filter{Tenants: config.Patterns{Include: []string{"org/*"}}}, "A", []string{"org/team/a"}, true},
		{"tenant case-sensitive", config.Filter{Tenants: config.Patterns{Include: []string{"ACME"}}}, "A", []string{"acme"}, false},
		{"tenantless default with tenant include", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}, "A", nil, false},
		{"tenantless default with exclude only", config.Filter{Tenants: config.Patterns{Exclude: []string{"acme"}}}, "A", nil, true},
		{"tenantless explicit true", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}, Tenantless: ptr(true)}, "A", nil, true},
		{"tenantless explicit false", config.Filter{Tenantless: ptr(false)}, "A", nil, false},
		{"tenantless still needs the action", config.Filter{Tenantless: ptr(true), Actions: config.Patterns{Include: []string{"B"}}}, "A", nil, false},
		{"both rules must pass", config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}, Actions: config.Patterns{Include: []string{"Login*"}}}, "UserCreated", []string{"acme"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Match(record.Meta{Action: tt.action, Tenants: tt.tenants}); got != tt.want {
				t.Errorf("Match(%s, %v): got %v, want %v", tt.action, tt.tenants, got, tt.want)
			}
		})
	}
}

// globMatch is an independent matcher for '*', '?' and literals, the
// brute-force reference of the property test.
func globMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && globMatch(p[1:], s[1:])
	}
	return s != "" && s[0] == p[0] && globMatch(p[1:], s[1:])
}

func anyMatch(pats []string, s string) bool {
	for _, p := range pats {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// bruteForce is the filter semantics written out the slow, obvious way.
func bruteForce(f config.Filter, action string, tenants []string) bool {
	if anyMatch(f.Actions.Exclude, action) {
		return false
	}
	if len(f.Actions.Include) > 0 && !anyMatch(f.Actions.Include, action) {
		return false
	}
	if len(tenants) == 0 {
		if f.Tenantless != nil {
			return *f.Tenantless
		}
		return len(f.Tenants.Include) == 0
	}
	for _, t := range tenants {
		if anyMatch(f.Tenants.Exclude, t) {
			return false
		}
	}
	if len(f.Tenants.Include) == 0 {
		return true
	}
	for _, t := range tenants {
		if anyMatch(f.Tenants.Include, t) {
			return true
		}
	}
	return false
}

// TestMatchProperty: random events against random filters agree with the
// brute-force evaluation, so no event reaches a connector whose filter
// rejects it, and none is withheld from one that accepts it.
func TestMatchProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "/", "-"}
	word := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	pattern := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			switch rng.IntN(5) {
			case 0:
				b.WriteByte('*')
			case 1:
				b.WriteByte('?')
			default:
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
		}
		return b.String()
	}
	list := func() []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, pattern())
		}
		return out
	}
	const filters, events = 300, 300
	matched := 0
	for range filters {
		f := config.Filter{
			Actions: config.Patterns{Include: list(), Exclude: list()},
			Tenants: config.Patterns{Include: list(), Exclude: list()},
		}
		if rng.IntN(3) == 0 {
			f.Tenantless = ptr(rng.IntN(2) == 0)
		}
		r, err := New(f)
		if err != nil {
			t.Fatal(err)
		}
		for range events {
			action := word()
			var tenants []string
			for range rng.IntN(4) {
				tenants = append(tenants, word())
			}
			got := r.Match(record.Meta{Action: action, Tenants: tenants})
			if want := bruteForce(f, action, tenants); got != want {
				t.Fatalf("filter %+v, action %q, tenants %q: got %v, want %v", f, action, tenants, got, want)
			}
			if got {
				matched++
			}
		}
	}
	// The generator must exercise both outcomes, or the property is empty.
	if matched < filters*events/20 || matched > filters*events*19/20 {
		t.Fatalf("%d of %d matched: the random cases are too one-sided", matched, filters*events)
	}
}

func TestDescribe(t *testing.T) {
	got := Describe(config.Filter{
		Tenants: config.Patterns{Include: []string{"acme*"}, Exclude: []string{"acme-test"}},
		Actions: config.Patterns{Exclude: []string{"TokenRefreshed"}},
	})
	for _, want := range []string{`all actions, except "TokenRefreshed"`, `tenants matching "acme*", except "acme-test"`, "project-level events (no tenant) excluded"} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe: got %q, want it to contain %q", got, want)
		}
	}
}
