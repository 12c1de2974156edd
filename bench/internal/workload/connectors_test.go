package workload

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
)

// TestRoute checks the hand-written filters against the router's filter
// semantics, case by case (the router's filter package is internal to its
// module, so the benchmark cannot call it).
func TestRoute(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		tenants []string
		want    []string
	}{
		{"login of a big tenant", "LoginSucceed", []string{"T0001"}, []string{"logins", "big-tenants", "archive"}},
		{"login of the excluded tenant", "LoginFailed", []string{"T0002"}, []string{"logins", "big-tenants"}},
		{"token refresh of a small tenant", "TokenRefreshed", []string{"T0009"}, nil},
		{"tenantless event", "UserCreated", nil, []string{"archive"}},
		{"tenantless login", "LoginSucceed", nil, []string{"logins", "archive"}},
		{"co-tenant excluded", "UserModified", []string{"T0009", "T0002"}, []string{"big-tenants"}},
		{"case-sensitive glob", "loginSucceed", []string{"T0009"}, []string{"archive"}},
	}
	route := Route("p.")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := []kgo.RecordHeader{{Key: record.HeaderProject, Value: []byte("P001")}, {Key: record.HeaderAction, Value: []byte(tt.action)}}
			for _, tn := range tt.tenants {
				hs = append(hs, kgo.RecordHeader{Key: record.HeaderTenant, Value: []byte(tn)})
			}
			var want []string
			for _, id := range tt.want {
				want = append(want, "p."+id)
			}
			if got := route(&kgo.Record{Headers: hs}, nil); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestPool checks that pooled events come out at about the padded size.
func TestPool(t *testing.T) {
	p, err := NewPool(200, 1, record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MeanValueBytes(); got < EventBytes-50 || got > EventBytes+50 {
		t.Errorf("mean value bytes: got %.0f, want about %d", got, EventBytes)
	}
	if a, b := p.Record(3, "t"), p.Record(3+p.Size(), "t"); a == b || string(a.Value) != string(b.Value) {
		t.Errorf("Record cycles the pool with a new record each call: got same=%v, equal values=%v", a == b, string(a.Value) == string(b.Value))
	}
}
