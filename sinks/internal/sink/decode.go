package sink

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config/filter"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/redact"
)

// decoder turns a record of the connector topic into the event to deliver:
// decoded, validated, checked against the connector's filter, and
// redacted. A record that fails is a dead letter, with its reason.
type decoder struct {
	filter *filter.Rule
	redact *redact.Rules
}

// decode returns the record's event, or the dead-letter reason and error.
//
// The router already applied the filter; applying it again here is
// defence in depth. A mismatch means a router bug, or a record that was
// written to the connector topic without the router. Either way the event
// must not reach this connector's destination, which may belong to another
// tenant. The filter sees the event before redaction, as the router did.
func (d decoder) decode(rec *kgo.Record) (ev *auditv1.Event, reason string, err error) {
	ev, err = record.Decode(rec)
	if err == nil {
		err = record.Validate(ev)
	}
	if err != nil {
		return nil, record.Reason(err), err
	}
	if m := record.MetaOf(ev); !d.filter.Match(m) {
		return nil, record.ReasonFilterMismatch, fmt.Errorf(
			"the connector's filter rejects the event (project %q, action %q, tenants %q): a router bug, or a record written past the router",
			m.Project, m.Action, m.Tenants)
	}
	d.redact.Apply(ev)
	return ev, "", nil
}
