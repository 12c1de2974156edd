package workload

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
)

// Connector is one of the three connectors of the router benchmark: its
// filter as the pipeline file spells it, and the same filter as plain Go
// for the passthrough baseline, which must route the same records without
// the router's filter package (internal to the router module).
type Connector struct {
	ID string
	// Filter is the connector's filter block of the pipeline file.
	Filter map[string]any
	// Match is Filter, hand-written: true when the event goes to this
	// connector.
	Match func(record.Meta) bool
}

// Connectors returns the overlapping connectors of the router's
// integration tests: an event can go to none, one, two or all three.
func Connectors() []Connector {
	big := []string{"T0001", "T0002", "T0003"}
	return []Connector{
		{
			ID:     "logins",
			Filter: map[string]any{"actions": map[string]any{"include": []string{"Login*"}}},
			Match:  func(m record.Meta) bool { return strings.HasPrefix(m.Action, "Login") },
		},
		{
			ID:     "big-tenants",
			Filter: map[string]any{"tenants": map[string]any{"include": big}},
			// Filtered to some tenants, so tenantless events are not routed.
			Match: func(m record.Meta) bool {
				return slices.ContainsFunc(m.Tenants, func(t string) bool { return slices.Contains(big, t) })
			},
		},
		{
			ID: "archive",
			Filter: map[string]any{
				"actions":    map[string]any{"exclude": []string{"TokenRefreshed"}},
				"tenants":    map[string]any{"exclude": []string{"T0002"}},
				"tenantless": true,
			},
			Match: func(m record.Meta) bool {
				return m.Action != "TokenRefreshed" && !slices.Contains(m.Tenants, "T0002")
			},
		},
	}
}

// Route returns the passthrough's routing by the connectors' filters: a
// record goes to prefix+id of each connector that matches its contract
// headers (records without them go nowhere; the benchmark writes none).
func Route(prefix string) func(r *kgo.Record, dst []string) []string {
	conns := Connectors()
	topics := make([]string, len(conns))
	for i, c := range conns {
		topics[i] = prefix + c.ID
	}
	return func(r *kgo.Record, dst []string) []string {
		meta, ok := record.MetaFromHeaders(r.Headers)
		if !ok {
			return dst
		}
		for i, c := range conns {
			if c.Match(meta) {
				dst = append(dst, topics[i])
			}
		}
		return dst
	}
}
