package route

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer/loadgen"
	"github.com/auditstream/auditstream/proto/record"
)

// benchTable is the router benchmark's routing (bench/internal/workload):
// three overlapping connectors.
func benchTable(b *testing.B) *Table {
	b.Helper()
	yes := true
	p := &config.Pipeline{
		Topics: config.Topics{DLQ: config.Topic{Name: "audit.dlq"}, ConnectorPrefix: "audit.connector."},
		Router: config.Router{MaxEventBytes: 1 << 20},
		Connectors: []config.Connector{
			{ID: "logins", Filter: config.Filter{Actions: config.Patterns{Include: []string{"Login*"}}}},
			{ID: "big-tenants", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"T0001", "T0002", "T0003"}}}},
			{ID: "archive", Filter: config.Filter{
				Actions:    config.Patterns{Exclude: []string{"TokenRefreshed"}},
				Tenants:    config.Patterns{Exclude: []string{"T0002"}},
				Tenantless: &yes,
			}},
		},
	}
	tb, err := NewTable(p)
	if err != nil {
		b.Fatal(err)
	}
	return tb
}

// benchRecords are ~700-byte loadgen events, as make bench sends them.
func benchRecords(b *testing.B, enc record.Encoding) []*kgo.Record {
	b.Helper()
	g := loadgen.New(loadgen.Config{Seed: 1, Tenants: 30, PadTo: 700})
	rs := make([]*kgo.Record, 1024)
	for i := range rs {
		r, err := record.Marshal(g.Next(), enc)
		if err != nil {
			b.Fatal(err)
		}
		r.Topic, r.Offset = "audit.events", int64(i)
		rs[i] = r
	}
	return rs
}

// BenchmarkRoute is Table.Route on contract records, the router's hot
// path.
func BenchmarkRoute(b *testing.B) {
	for _, bc := range []struct {
		name string
		enc  record.Encoding
	}{{"protobuf", record.Protobuf}, {"json", record.JSON}} {
		b.Run(bc.name, func(b *testing.B) {
			tb, rs := benchTable(b), benchRecords(b, bc.enc)
			var out []*kgo.Record
			b.ReportAllocs()
			reportCPU(b)
			for i := 0; b.Loop(); i++ {
				out, _ = tb.Route(rs[i%len(rs)], out[:0])
			}
		})
	}
}
