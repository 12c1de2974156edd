package record

import (
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
// value. ok is false when the project or action header is missing, in which
// case the caller must decode the value.
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
