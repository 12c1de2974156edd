package filter

import (
	"fmt"
	"strings"

	"github.com/auditstream/auditstream/config"
)

// Describe says in words what a filter lets through, for `router validate`.
func Describe(f config.Filter) string {
	var parts []string
	parts = append(parts, describeList("actions", f.Actions))
	tenants := describeList("tenants", f.Tenants)
	tenantless := len(f.Tenants.Include) == 0
	if f.Tenantless != nil {
		tenantless = *f.Tenantless
	}
	if tenantless {
		tenants += "; project-level events (no tenant) included"
	} else {
		tenants += "; project-level events (no tenant) excluded"
	}
	parts = append(parts, tenants)
	return strings.Join(parts, "\n")
}

func describeList(what string, p config.Patterns) string {
	s := "all " + what
	if len(p.Include) > 0 {
		s = fmt.Sprintf("%s matching %s", what, orList(p.Include))
	}
	if len(p.Exclude) > 0 {
		s += fmt.Sprintf(", except %s", orList(p.Exclude))
	}
	if what == "tenants" && len(p.Exclude) > 0 {
		s += " (an event with any excluded tenant is dropped)"
	}
	return s
}

func orList(pats []string) string {
	q := make([]string, len(pats))
	for i, p := range pats {
		q[i] = fmt.Sprintf("%q", p)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
