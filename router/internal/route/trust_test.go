package route

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// tenantTable has one connector per tenant, as a hosted product gives each
// customer its own: acme, globex, and one that takes everything but
// acme-test.
func tenantTable(t *testing.T) *Table {
	t.Helper()
	p := &config.Pipeline{
		Topics: config.Topics{DLQ: config.Topic{Name: "audit.dlq"}, ConnectorPrefix: "audit.connector."},
		Router: config.Router{MaxEventBytes: 64 << 10},
		Connectors: []config.Connector{
			{ID: "acme", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}},
			{ID: "globex", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"globex"}}}},
			{ID: "no-test", Filter: config.Filter{Tenants: config.Patterns{Exclude: []string{"acme-test"}}}},
		},
	}
	tb, err := NewTable(p)
	if err != nil {
		t.Fatal(err)
	}
	tb.RecordBytes = 256 << 10
	return tb
}

// contract encodes ev by the record contract, then lets edit change its
// headers.
func contract(t *testing.T, ev *auditv1.Event, enc record.Encoding, edit func([]kgo.RecordHeader) []kgo.RecordHeader) *kgo.Record {
	t.Helper()
	r, err := record.Marshal(ev, enc)
	if err != nil {
		t.Fatal(err)
	}
	r.Topic, r.Partition, r.Offset = "audit.events", 0, 5
	if edit != nil {
		r.Headers = edit(append([]kgo.RecordHeader(nil), r.Headers...))
	}
	return r
}

func hdr(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

// without drops every header with key k.
func without(hs []kgo.RecordHeader, k string) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		if h.Key != k {
			out = append(out, h)
		}
	}
	return out
}

// set replaces the headers with key k by one per value.
func set(hs []kgo.RecordHeader, k string, vs ...string) []kgo.RecordHeader {
	hs = without(hs, k)
	for _, v := range vs {
		hs = append(hs, hdr(k, v))
	}
	return hs
}

// TestRouteHeadersMustAgree: every way the issue saw headers lie, and the
// ways a header can be missing, extra, misspelt, duplicated or not UTF-8. A
// record whose headers disagree with its value is one dead letter,
// header_mismatch, naming both versions; it reaches no connector.
func TestRouteHeadersMustAgree(t *testing.T) {
	tb := tenantTable(t)
	type edit = func([]kgo.RecordHeader) []kgo.RecordHeader
	tests := []struct {
		name    string
		ev      *auditv1.Event
		edit    edit
		inError []string // dlq-error must say these
	}{
		{"tenant forged", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "globex") },
			[]string{"globex", "acme"}},
		{"project and tenant forged", &auditv1.Event{Id: "e1", ProjectId: "P1", Action: "UserCreated", Tenants: []string{"globex"}, Occurred: event("A").Occurred},
			func(hs []kgo.RecordHeader) []kgo.RecordHeader {
				return set(set(hs, "project", "P9"), "tenant", "acme")
			},
			[]string{"P9", "P1", "acme", "globex"}},
		{"no tenant header", event("UserCreated", "acme-test"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return without(hs, "tenant") }, []string{"acme-test"}},
		{"Tenant spelling", event("UserCreated", "acme-test"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader {
				return append(without(hs, "tenant"), hdr("Tenant", "acme-test"))
			}, nil},
		{"one of two tenants", event("UserCreated", "acme", "acme-test"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "acme") }, []string{"acme-test"}},
		{"extra tenant", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "acme", "globex") }, nil},
		{"duplicated tenant", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "acme", "acme") }, nil},
		{"tenant header on a tenantless event", event("UserCreated"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "acme") }, nil},
		{"tenant not UTF-8", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "acme\xff") }, nil},
		{"action forged", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "action", "LoginSucceed") }, nil},
		{"project duplicated", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return append(hs, hdr("project", "P1")) }, nil},
		{"project not UTF-8", event("UserCreated", "acme"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "project", "P1\xc0") }, nil},
	}
	for _, tt := range tests {
		for _, enc := range []record.Encoding{record.Protobuf, record.JSON} {
			name := tt.name + "/protobuf"
			if enc == record.JSON {
				name = tt.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				in := contract(t, tt.ev, enc, tt.edit)
				out, o := tb.Route(in, nil)
				if len(out) != 1 || out[0].Topic != "audit.dlq" {
					t.Fatalf("got %q, want one dead letter", topicsOf(out))
				}
				if o.DLQReason != record.ReasonHeaderMismatch || len(o.Matched) != 0 {
					t.Errorf("outcome: got %+v, want reason %s and no connector", o, record.ReasonHeaderMismatch)
				}
				if got := record.HeaderValue(out[0].Headers, record.HeaderDLQReason); got != record.ReasonHeaderMismatch {
					t.Errorf("dlq-reason: got %q, want %q", got, record.ReasonHeaderMismatch)
				}
				msg := record.HeaderValue(out[0].Headers, record.HeaderDLQError)
				for _, s := range append(tt.inError, "header", "value") {
					if !strings.Contains(msg, s) {
						t.Errorf("dlq-error %q does not mention %q", msg, s)
					}
				}
				if string(out[0].Value) != string(in.Value) {
					t.Error("the dead letter's value is not the original")
				}
			})
		}
	}
}

// TestRouteHeadersThatAgree: headers that agree with the value, in any
// order, with other headers beside them, route on the value.
func TestRouteHeadersThatAgree(t *testing.T) {
	tb := tenantTable(t)
	tests := []struct {
		name string
		ev   *auditv1.Event
		edit func([]kgo.RecordHeader) []kgo.RecordHeader
		want string
	}{
		{"as marshalled", event("UserCreated", "acme", "globex"), nil, "audit.connector.acme,audit.connector.globex,audit.connector.no-test"},
		{"tenants reordered", event("UserCreated", "acme", "globex"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader { return set(hs, "tenant", "globex", "acme") },
			"audit.connector.acme,audit.connector.globex,audit.connector.no-test"},
		{"headers reordered, others beside", event("UserCreated", "acme-test"),
			func(hs []kgo.RecordHeader) []kgo.RecordHeader {
				return append([]kgo.RecordHeader{hdr("x-trace", "\xff"), hdr("Project", "P9")}, hs[3], hs[2], hs[1], hs[0])
			}, ""},
		{"tenantless", event("UserCreated"), nil, "audit.connector.no-test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := contract(t, tt.ev, record.Protobuf, tt.edit)
			out, o := tb.Route(in, nil)
			if got := topicsOf(out); got != tt.want || o.DLQReason != "" {
				t.Errorf("got %q (dlq %q), want %q", got, o.DLQReason, tt.want)
			}
		})
	}
}

// TestRouteContractValueMustDecode: a value with contract headers that does
// not decode, or does not validate, is dead-lettered once, here, and
// reaches no connector (before, it went to every connector its headers
// matched, and each sink dead-lettered it again).
func TestRouteContractValueMustDecode(t *testing.T) {
	tb := tenantTable(t)
	claim := []kgo.RecordHeader{hdr("content-type", record.ContentTypeProtobuf), hdr("project", "P1"), hdr("action", "UserCreated"), hdr("tenant", "acme")}
	noTime := event("UserCreated", "acme")
	noTime.Occurred = nil
	badTenant := event("UserCreated", "acme")
	badTenant.Tenants = append(badTenant.Tenants, "a,b")
	tests := []struct {
		name   string
		rec    *kgo.Record
		reason string
	}{
		{"ff ff ff", &kgo.Record{Value: []byte{0xff, 0xff, 0xff}, Headers: claim}, record.ReasonMalformedProtobuf},
		{"truncated", &kgo.Record{Value: contract(t, event("UserCreated", "acme"), record.Protobuf, nil).Value[:20], Headers: claim}, record.ReasonMalformedProtobuf},
		{"json garbage", &kgo.Record{Value: []byte(`{"projectId":`), Headers: set(claim, "content-type", record.ContentTypeJSON)}, record.ReasonMalformedJSON},
		{"no occurred", contract(t, noTime, record.Protobuf, nil), "missing_occurred"},
		{"bad tenant", contract(t, badTenant, record.Protobuf, nil), "invalid_tenants"},
		{"bad tenant json", contract(t, badTenant, record.JSON, nil), "invalid_tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, o := tb.Route(tt.rec, nil)
			if len(out) != 1 || out[0].Topic != "audit.dlq" {
				t.Fatalf("got %q, want one dead letter", topicsOf(out))
			}
			if o.DLQReason != tt.reason {
				t.Errorf("reason: got %q, want %q", o.DLQReason, tt.reason)
			}
		})
	}
}

// TestRouteWholeRecordSize: the key, headers and value together must fit
// the router's producer, whatever the value's own size; what does not is
// one dead letter, too_large, that itself fits.
func TestRouteWholeRecordSize(t *testing.T) {
	tb := tenantTable(t)
	many := contract(t, event("UserCreated", "acme"), record.Protobuf, func(hs []kgo.RecordHeader) []kgo.RecordHeader {
		for range 20_000 {
			hs = append(hs, hdr("tenant", "acme"))
		}
		return hs
	})
	bigKey := contract(t, event("UserCreated", "acme"), record.Protobuf, nil)
	bigKey.Key = make([]byte, 300<<10)
	for _, in := range []*kgo.Record{many, bigKey} {
		out, o := tb.Route(in, nil)
		if len(out) != 1 || out[0].Topic != "audit.dlq" || o.DLQReason != record.ReasonTooLarge {
			t.Fatalf("got %q (reason %q), want one too_large dead letter", topicsOf(out), o.DLQReason)
		}
		if n := record.Size(out[0]); n > tb.RecordBytes {
			t.Errorf("the dead letter is %d bytes, over the producer's %d", n, tb.RecordBytes)
		}
	}
}

// TestRouteCountsUnknownFields: a value with fields this schema does not
// know (a newer producer's, or a misspelt "tenant") is still routed, for
// forward compatibility, and the outcome says so, for a metric.
func TestRouteCountsUnknownFields(t *testing.T) {
	tb := tenantTable(t)
	known := contract(t, event("UserCreated", "acme"), record.Protobuf, nil)
	newer := contract(t, event("UserCreated", "acme"), record.Protobuf, nil)
	newer.Value = append(slices.Clone(newer.Value), 0xc2, 0x3e, 0x01, 'x') // field 1000, "x"
	jsonNewer := contract(t, event("UserCreated", "acme"), record.JSON, nil)
	jsonNewer.Value = []byte(strings.Replace(string(jsonNewer.Value), "{", `{"severity":"high",`, 1))
	tests := []struct {
		name string
		rec  *kgo.Record
		want string
	}{
		{"json misspelt", &kgo.Record{Value: []byte(`{"projectId":"P1","action":"UserCreated","tenant":"acme","occurred":"2026-01-02T03:04:05Z"}`)}, "json"},
		{"json with headers", jsonNewer, "json"},
		{"json", contract(t, event("UserCreated", "acme"), record.JSON, nil), ""},
		{"protobuf newer", newer, "protobuf"},
		{"protobuf", known, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, o := tb.Route(tt.rec, nil)
			if o.DLQReason != "" || len(out) == 0 {
				t.Fatalf("got %q (dlq %q), want routed", topicsOf(out), o.DLQReason)
			}
			if o.Unknown != tt.want {
				t.Errorf("unknown: got %q, want %q", o.Unknown, tt.want)
			}
		})
	}
	tl := newTally()
	tl.add(Outcome{Matched: []string{"acme"}, Unknown: "json"})
	if tl.unknown["json"] != 1 {
		t.Errorf("tally: got %v, want one json", tl.unknown)
	}
}

// TestRouteClaimWithoutID: a record whose headers agree with a value that
// has no id (kcat with -H project=… -H action=…) gets the id derived from
// its position, as a headerless one does, and the same on every replay.
func TestRouteClaimWithoutID(t *testing.T) {
	tb := tenantTable(t)
	ev := event("UserCreated", "acme")
	ev.Id = ""
	in := contract(t, ev, record.JSON, nil)
	out, o := tb.Route(in, nil)
	if got, want := topicsOf(out), "audit.connector.acme,audit.connector.no-test"; got != want || o.DLQReason != "" {
		t.Fatalf("got %q (dlq %q), want %q", got, o.DLQReason, want)
	}
	got, err := record.Decode(out[0])
	if err != nil || got.GetId() == "" {
		t.Fatalf("routed event: id %q, err %v; want a derived id", got.GetId(), err)
	}
	again, _ := tb.Route(in, nil)
	if ev2, _ := record.Decode(again[0]); ev2.GetId() != got.GetId() {
		t.Errorf("derived id differs on replay: %s then %s", got.GetId(), ev2.GetId())
	}
	if err := record.CheckHeaders(out[0].Headers, record.MetaOf(got)); err != nil {
		t.Errorf("rewritten headers: %v", err)
	}
}

// TestRouteJSONReadAsSinksDecode: a JSON value is read as the sinks decode
// it, whatever spelling it takes: escapes (Python's json.dumps writes
// "\u00e9"; anyone may write "\u0061"), proto field names, a field twice.
// Headers are held to the decoded value, not to its text.
func TestRouteJSONReadAsSinksDecode(t *testing.T) {
	tb := tenantTable(t)
	const occurred = `"occurred":"2026-01-02T03:04:05Z"`
	claim := func(tenants ...string) []kgo.RecordHeader {
		hs := []kgo.RecordHeader{hdr("content-type", record.ContentTypeJSON), hdr("project", "P1"), hdr("action", "UserCreated")}
		for _, tn := range tenants {
			hs = append(hs, hdr("tenant", tn))
		}
		return hs
	}
	tests := []struct {
		name    string
		value   string
		headers []kgo.RecordHeader
		want    string // topics, or the dead letter's reason
	}{
		{"escaped tenant", `{"id":"e1","projectId":"P1","action":"UserCreated","tenants":["\u0061cme"],` + occurred + `}`,
			claim("acme"), "audit.connector.acme,audit.connector.no-test"},
		{"header is the escaped text", `{"id":"e1","projectId":"P1","action":"UserCreated","tenants":["\u0061cme"],` + occurred + `}`,
			claim(`\u0061cme`), record.ReasonHeaderMismatch},
		{"escaped project", `{"id":"e1","projectId":"\u00501","action":"UserCreated","tenants":["globex"],` + occurred + `}`,
			claim("globex"), "audit.connector.globex,audit.connector.no-test"},
		{"proto names", `{"id":"e1","project_id":"P1","action":"UserCreated","tenants":["globex"],` + occurred + `}`,
			claim("globex"), "audit.connector.globex,audit.connector.no-test"},
		{"tenants twice", `{"id":"e1","projectId":"P1","action":"UserCreated","tenants":["acme-test"],"tenants":["globex"],` + occurred + `}`,
			claim("globex"), record.ReasonMalformedJSON},
		{"project under both names", `{"id":"e1","projectId":"P1","project_id":"P1","action":"UserCreated",` + occurred + `}`,
			claim(), record.ReasonMalformedJSON},
		{"data key twice", `{"id":"e1","projectId":"P1","action":"UserCreated","tenants":["acme"],` + occurred + `,"data":{"k":1,"k":2}}`,
			claim("acme"), record.ReasonMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, o := tb.Route(&kgo.Record{Topic: "audit.events", Value: []byte(tt.value), Headers: tt.headers}, nil)
			got := topicsOf(out)
			if o.DLQReason != "" {
				got = o.DLQReason
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
