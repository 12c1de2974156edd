package record

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Meta is what routing needs to know of an event: its project, action and
// tenants.
type Meta struct {
	Project string
	Action  string
	Tenants []string
}

// MetaFromHeaders reads Meta from a record's headers without decoding the
// value. ok is false when the project or action header is missing.
//
// The headers are a producer's claim, not a fact: route on the value, and
// use CheckHeaders to hold the headers to it.
func MetaFromHeaders(hs []kgo.RecordHeader) (m Meta, ok bool) {
	var hasProject, hasAction bool
	for _, h := range hs {
		switch h.Key {
		case HeaderProject:
			m.Project, hasProject = string(h.Value), true
		case HeaderAction:
			m.Action, hasAction = string(h.Value), true
		case HeaderTenant:
			m.Tenants = append(m.Tenants, string(h.Value))
		}
	}
	return m, hasProject && hasAction
}

// MetaOf returns the Meta of a decoded event.
func MetaOf(ev *auditv1.Event) Meta {
	return Meta{Project: ev.GetProjectId(), Action: ev.GetAction(), Tenants: ev.GetTenants()}
}

// HasClaim reports whether a record's headers claim to describe its value:
// it has a project header and an action header, with exactly these keys.
func HasClaim(hs []kgo.RecordHeader) bool {
	var project, action bool
	for _, h := range hs {
		switch h.Key {
		case HeaderProject:
			project = true
		case HeaderAction:
			action = true
		}
	}
	return project && action
}

// smallTenants is how many tenants CheckHeaders compares pairwise; beyond,
// it sorts copies.
const smallTenants = 16

// CheckHeaders holds a record's contract headers to m, what its value says.
// They agree when there is exactly one project header, equal to m.Project,
// exactly one action header, equal to m.Action, and one tenant header per
// tenant of m (as many times as m lists it), in any order. Keys match
// exactly: a "Tenant" header is not a tenant header. A header that is not
// valid UTF-8 never equals what a value says, which always is.
//
// It returns nil, or a *HeaderMismatchError that gives both versions.
func CheckHeaders(hs []kgo.RecordHeader, m Meta) error {
	var projects, actions, tenants int
	agree := true
	for _, h := range hs {
		switch h.Key {
		case HeaderProject:
			projects++
			agree = agree && string(h.Value) == m.Project
		case HeaderAction:
			actions++
			agree = agree && string(h.Value) == m.Action
		case HeaderTenant:
			tenants++
		}
	}
	if !agree || projects != 1 || actions != 1 || tenants != len(m.Tenants) || !sameTenants(hs, m.Tenants) {
		return mismatch(hs, m)
	}
	return nil
}

// sameTenants reports whether the tenant headers of hs, as many as want
// has, are want in any order, counting repeats.
func sameTenants(hs []kgo.RecordHeader, want []string) bool {
	// The producer SDK writes them in the value's order: the common case.
	i := 0
	for _, h := range hs {
		if h.Key != HeaderTenant {
			continue
		}
		if string(h.Value) != want[i] {
			break
		}
		i++
	}
	if i == len(want) {
		return true
	}
	if len(want) > smallTenants {
		got := make([]string, 0, len(want))
		for _, h := range hs {
			if h.Key == HeaderTenant {
				got = append(got, string(h.Value))
			}
		}
		w := slices.Clone(want)
		slices.Sort(got)
		slices.Sort(w)
		return slices.Equal(got, w)
	}
	// Each distinct tenant as many times in both. The counts are equal,
	// so the headers hold nothing else.
	for i, t := range want {
		if slices.Contains(want[:i], t) {
			continue
		}
		n := 0
		for _, h := range hs {
			if h.Key == HeaderTenant && string(h.Value) == t {
				n++
			}
		}
		if n != countOf(want, t) {
			return false
		}
	}
	return true
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// HeaderMismatchError is a record whose contract headers do not describe
// its value. Its message gives both versions, the headers quoted as Go
// strings, since they may be anything.
type HeaderMismatchError struct {
	Headers, Value string
}

func (e *HeaderMismatchError) Error() string {
	return "contract headers disagree with the value: headers say " + e.Headers + "; value says " + e.Value
}

// maxClaimShown caps how much of either version a HeaderMismatchError
// keeps: a record may carry thousands of headers.
const maxClaimShown = 1 << 10

func mismatch(hs []kgo.RecordHeader, m Meta) error {
	var b strings.Builder
	for _, h := range hs {
		switch h.Key {
		case HeaderProject, HeaderAction, HeaderTenant:
		default:
			// A near miss ("Tenant") is worth showing: it is often why.
			if !strings.EqualFold(h.Key, HeaderProject) && !strings.EqualFold(h.Key, HeaderAction) && !strings.EqualFold(h.Key, HeaderTenant) {
				continue
			}
		}
		if b.Len() > maxClaimShown {
			b.WriteString(" …")
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(h.Key))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(string(h.Value)))
	}
	if b.Len() == 0 {
		b.WriteString("nothing")
	}
	v := fmt.Sprintf("project=%q action=%q tenants=%q", m.Project, m.Action, m.Tenants)
	if len(v) > maxClaimShown {
		v = strings.ToValidUTF8(v[:maxClaimShown], "") + " …"
	}
	return &HeaderMismatchError{Headers: b.String(), Value: v}
}
