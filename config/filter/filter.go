// Package filter decides whether an event belongs to a connector.
//
// The semantics, exactly:
//
//   - Patterns are globs: '*' matches any run of characters, '?' one
//     character, '[a-z]' a class, '\' escapes. Matching is case-sensitive
//     ("login*" does not match "LoginSucceed") and whole-string. Unlike
//     path.Match, '/' is an ordinary character.
//   - Actions: an event whose action matches any exclude pattern is
//     rejected. Otherwise, when the include list is empty it passes, and
//     when it is not, the action must match one of its patterns.
//   - Tenants, for an event with one or more tenants: if any tenant matches
//     an exclude pattern the event is rejected, even when another of its
//     tenants is included (exclude wins: a tenant that must not receive an
//     event never gets it through a co-tenant). Otherwise, when the include
//     list is empty it passes, and when it is not, at least one tenant must
//     match an include pattern.
//   - Tenants, for an event with no tenant (a project-level event): the
//     connector's tenantless setting decides. When unset, such events pass
//     when the include list is empty and are rejected when the connector is
//     filtered to some tenants.
//   - An event passes when it passes both the action and the tenant rules.
package filter

import (
	"fmt"
	"path"
	"strings"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

// Rule is a compiled connector filter.
type Rule struct {
	actions    patterns
	tenants    patterns
	tenantless bool
}

// New compiles a filter. Patterns were checked when the config was loaded;
// an error here means a caller skipped config.Load.
func New(f config.Filter) (*Rule, error) {
	r := &Rule{tenantless: len(f.Tenants.Include) == 0}
	if f.Tenantless != nil {
		r.tenantless = *f.Tenantless
	}
	var err error
	if r.actions, err = compile(f.Actions); err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	if r.tenants, err = compile(f.Tenants); err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	return r, nil
}

// Match reports whether an event with this project, action and tenants
// belongs to the connector.
func (r *Rule) Match(m record.Meta) bool {
	if r.actions.exclude.any(m.Action) {
		return false
	}
	if !r.actions.include.empty() && !r.actions.include.any(m.Action) {
		return false
	}
	if len(m.Tenants) == 0 {
		return r.tenantless
	}
	included := r.tenants.include.empty()
	for _, t := range m.Tenants {
		if r.tenants.exclude.any(t) {
			return false
		}
		included = included || r.tenants.include.any(t)
	}
	return included
}

// patterns is a compiled include/exclude pair.
type patterns struct{ include, exclude set }

func compile(p config.Patterns) (patterns, error) {
	inc, err := newSet(p.Include)
	if err != nil {
		return patterns{}, err
	}
	exc, err := newSet(p.Exclude)
	return patterns{inc, exc}, err
}

// set matches a string against many patterns: literal patterns through a
// map, the others one glob at a time. Most filters are literal tenant ids
// and action names, so the common case is one map lookup.
type set struct {
	literal map[string]bool
	globs   []string // with '/' swapped for slash, see match
}

func newSet(pats []string) (set, error) {
	s := set{literal: map[string]bool{}}
	for _, p := range pats {
		if _, err := path.Match(p, ""); err != nil {
			return s, fmt.Errorf("bad glob %q: %w", p, err)
		}
		if !strings.ContainsAny(p, `*?[\`) {
			s.literal[p] = true
			continue
		}
		s.globs = append(s.globs, strings.ReplaceAll(p, "/", slash))
	}
	return s, nil
}

func (s set) empty() bool { return len(s.literal) == 0 && len(s.globs) == 0 }

// slash stands in for '/' so that path.Match treats it as an ordinary
// character. Tenants and actions never contain control characters (the
// record validation rejects them), so the stand-in cannot collide.
const slash = "\x00"

func (s set) any(v string) bool {
	if s.literal[v] {
		return true
	}
	if len(s.globs) == 0 {
		return false
	}
	v = strings.ReplaceAll(v, "/", slash)
	for _, g := range s.globs {
		if ok, _ := path.Match(g, v); ok {
			return true
		}
	}
	return false
}
