//go:build integration

package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// perTenant gives each customer a connector of its own, and one connector
// everything but acme's test tenant.
var perTenant = []config.Connector{
	{ID: "acme", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"acme"}}}},
	{ID: "globex", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"globex"}}}},
	{ID: "no-test", Filter: config.Filter{Tenants: config.Patterns{Exclude: []string{"acme-test"}}}},
}

func tenantEvent(id, project string, tenants ...string) *auditv1.Event {
	return &auditv1.Event{Id: id, ProjectId: project, Action: "UserCreated", Tenants: tenants,
		Occurred: timestamppb.New(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))}
}

// marshal encodes ev by the contract with key k, then lets edit change its
// headers.
func marshal(t *testing.T, ev *auditv1.Event, key string, edit func([]kgo.RecordHeader) []kgo.RecordHeader) *kgo.Record {
	t.Helper()
	r, err := record.Marshal(ev, record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	r.Key = []byte(key)
	if edit != nil {
		r.Headers = edit(slices.Clone(r.Headers))
	}
	return r
}

func setHeader(hs []kgo.RecordHeader, k string, vs ...string) []kgo.RecordHeader {
	hs = slices.DeleteFunc(hs, func(h kgo.RecordHeader) bool { return h.Key == k })
	for _, v := range vs {
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs
}

// checkDLQ asserts that the dead-letter topic holds exactly one record per
// wanted key, each with its reason, and returns them by key.
func checkDLQ(t *testing.T, topic string, want map[string]string) map[string]*kgo.Record {
	t.Helper()
	dead := kafkatest.ReadAll(t, topic, len(want), 90*time.Second)
	got := map[string]*kgo.Record{}
	for _, d := range dead {
		key := string(d.Key)
		if got[key] != nil {
			t.Errorf("DLQ: %s dead-lettered more than once", key)
		}
		got[key] = d
		reason, ok := want[key]
		if !ok {
			t.Errorf("DLQ: unexpected record %q, reason %s", key, record.HeaderValue(d.Headers, record.HeaderDLQReason))
			continue
		}
		if r := record.HeaderValue(d.Headers, record.HeaderDLQReason); r != reason {
			t.Errorf("DLQ %s: reason %q, want %q (error %q)", key, r, reason, record.HeaderValue(d.Headers, record.HeaderDLQError))
		}
		if s := record.HeaderValue(d.Headers, record.HeaderDLQStage); s != "router" {
			t.Errorf("DLQ %s: stage %q, want router", key, s)
		}
	}
	for key := range want {
		if got[key] == nil {
			t.Errorf("DLQ: %s is missing", key)
		}
	}
	return got
}

// TestRouteForgedHeaders: the cases of issue 10 §1, seen live, on the real
// broker, among good events. No connector receives an event its filter
// rejects by its value; each forged record is one dead letter at the
// router, header_mismatch with both versions, and ff ff ff is one
// malformed_protobuf.
func TestRouteForgedHeaders(t *testing.T) {
	tp := newPipeline(t, perTenant)
	var good []*auditv1.Event
	for i := range 300 {
		tenants := [][]string{{"acme"}, {"globex"}, {"acme-test"}, {"acme", "acme-test"}, nil}[i%5]
		good = append(good, tenantEvent("good-"+strconv.Itoa(i), "P1", tenants...))
	}
	bad := []*kgo.Record{
		marshal(t, tenantEvent("bad-1", "P1", "acme"), "tenant-forged", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
			return setHeader(hs, "tenant", "globex")
		}),
		marshal(t, tenantEvent("bad-2", "P1", "globex"), "project-and-tenant-forged", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
			return setHeader(setHeader(hs, "project", "P9"), "tenant", "acme")
		}),
		marshal(t, tenantEvent("bad-3", "P1", "acme-test"), "no-tenant-header", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
			return setHeader(hs, "tenant")
		}),
		marshal(t, tenantEvent("bad-4", "P1", "acme-test"), "Tenant-spelling", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
			return setHeader(setHeader(hs, "tenant"), "Tenant", "acme-test")
		}),
		marshal(t, tenantEvent("bad-5", "P1", "acme", "acme-test"), "one-of-two-tenants", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
			return setHeader(hs, "tenant", "acme")
		}),
		{Key: []byte("ff-ff-ff"), Value: []byte{0xff, 0xff, 0xff}, Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte(record.ContentTypeProtobuf)}, {Key: "project", Value: []byte("P1")},
			{Key: "action", Value: []byte("UserCreated")}, {Key: "tenant", Value: []byte("acme")},
		}},
	}
	wantDead := map[string]string{"ff-ff-ff": record.ReasonMalformedProtobuf}
	var recs []*kgo.Record
	for i, ev := range good {
		recs = append(recs, marshal(t, ev, "good", nil))
		if i%50 == 0 && len(bad) > 0 {
			recs = append(recs, bad[0])
			if string(bad[0].Key) != "ff-ff-ff" {
				wantDead[string(bad[0].Key)] = record.ReasonHeaderMismatch
			}
			bad = bad[1:]
		}
	}
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.events))
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	startRouter(t, tp.path)

	want := expected(t, perTenant, good)
	for _, c := range perTenant {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	dead := checkDLQ(t, tp.dlq, wantDead)
	if d := dead["project-and-tenant-forged"]; d != nil {
		msg := record.HeaderValue(d.Headers, record.HeaderDLQError)
		for _, s := range []string{"P9", "P1", "acme", "globex"} {
			if !strings.Contains(msg, s) {
				t.Errorf("dlq-error %q does not name %q: it must give both versions", msg, s)
			}
		}
	}
}

// raiseLimit sets a topic's max.message.bytes, waiting up to 30 s for a
// topic just created to be known.
func raiseLimit(t *testing.T, topic string, bytes int) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t))
	v := strconv.Itoa(bytes)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resp.On(topic, nil); err == nil {
				err = r.Err
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("set max.message.bytes of %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// oversized runs one record the router's producer could never send among
// good events: it must end in the DLQ, too_large, cut to fit, and the
// router must move on to the events after it.
func oversized(t *testing.T, big *kgo.Record) *kgo.Record {
	t.Helper()
	tp := newPipeline(t, overlapping)
	tp.maxEventBytes = "1MiB"
	tp.write(t, overlapping)
	raiseLimit(t, tp.events, 16<<20) // the broker checks the compressed batch against this
	before, after := generate(11, 500), generate(12, 500)
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.events),
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerBatchMaxBytes(16<<20))
	var recs []*kgo.Record
	for _, ev := range before {
		recs = append(recs, marshal(t, ev, "good", nil))
	}
	big.Key = []byte("big")
	recs = append(recs, big)
	for _, ev := range after {
		recs = append(recs, marshal(t, ev, "good", nil))
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	r := startRouter(t, tp.path)
	want := expected(t, overlapping, append(before, after...))
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	dead := checkDLQ(t, tp.dlq, map[string]string{"big": record.ReasonTooLarge})
	d := dead["big"]
	if d == nil {
		t.Fatalf("router log:\n%s", lastLines(r.log(), 30))
	}
	if record.HeaderValue(d.Headers, record.HeaderDLQTruncated) != "true" ||
		record.HeaderValue(d.Headers, record.HeaderDLQOriginalBytes) != strconv.Itoa(len(big.Value)) {
		t.Errorf("the dead letter does not say it was cut from %d bytes: %q", len(big.Value), d.Headers[:min(len(d.Headers), 12)])
	}
	if n := strings.Count(r.log(), "transaction aborted"); n > 0 {
		t.Errorf("%d transactions aborted; want none", n)
	}
	return d
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestRouteCompressedHugeValue: issue 10 §2 (a). A 3 MiB value that
// compresses well, produced gzip-compressed, is accepted by the broker
// (which checks the compressed batch) but over every limit of the router's
// producer. Before, every transaction aborted forever.
func TestRouteCompressedHugeValue(t *testing.T) {
	ev := loadgen.New(loadgen.Config{Seed: 9, PadTo: 3 << 20}).Next()
	oversized(t, marshal(t, ev, "big", nil))
}

// TestRouteManyTenantHeaders: issue 10 §2 (b). A value just under 1 MiB
// with 20,000 tenant headers: the value is within max_event_bytes, the
// whole record is not within what the router's producer sends.
func TestRouteManyTenantHeaders(t *testing.T) {
	ev := loadgen.New(loadgen.Config{Seed: 10, PadTo: 1<<20 - 100}).Next()
	big := marshal(t, ev, "big", func(hs []kgo.RecordHeader) []kgo.RecordHeader {
		for i := range 20_000 {
			hs = append(hs, kgo.RecordHeader{Key: "tenant", Value: []byte("T" + strconv.Itoa(i))})
		}
		return hs
	})
	oversized(t, big)
}

var adminAddr = regexp.MustCompile(`msg="admin endpoints" addr=(\S+)`)

// readyz returns the router's /readyz status code and body.
func readyz(t *testing.T, p *proc) (int, string) {
	t.Helper()
	p.waitFor(t, "admin endpoints", 1, 30*time.Second)
	m := adminAddr.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no admin address in the log:\n%s", p.log())
	}
	resp, err := http.Get("http://" + m[1] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitReady waits until /readyz answers code.
func waitReady(t *testing.T, p *proc, code int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, body := readyz(t, p)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d %q for %v; want %d. Router log:\n%s", got, body, timeout, code, lastLines(p.log(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRouteNotReadyWhileAborting: a connector topic that refuses what the
// router produces (its max.message.bytes set below an event) makes every
// transaction abort. The router must say it is not ready while that lasts,
// and be ready again, with every event routed once, when the topic takes
// the records again. Before, /readyz stayed green through every abort.
func TestRouteNotReadyWhileAborting(t *testing.T) {
	tp := newPipeline(t, overlapping)
	r := startRouter(t, tp.path)
	waitReady(t, r, http.StatusOK, 60*time.Second)

	raiseLimit(t, tp.prefix+"archive", 200) // below any event: every produce to it fails
	evs := generate(13, 2_000)
	publish(t, tp.events, evs)
	body := waitReady(t, r, http.StatusServiceUnavailable, 30*time.Second)
	t.Logf("while aborting: %s", body)
	if n := strings.Count(r.log(), "transaction aborted"); n == 0 {
		t.Fatalf("no transaction aborted; the test needs them to. Log:\n%s", lastLines(r.log(), 20))
	}

	raiseLimit(t, tp.prefix+"archive", 2<<20)
	waitReady(t, r, http.StatusOK, 60*time.Second)
	want := expected(t, overlapping, evs)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
}

// TestRoutePropertyBroker is the router as a whole on the real broker:
// random records with random header perturbations, random connector
// filters. Each connector topic holds exactly the events whose headers
// agree with their value (or that have none) and whose value its filter
// accepts, brute force; every other record is one dead letter; every input
// is accounted for.
func TestRoutePropertyBroker(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	const n = 3_000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = propRecord(t, rng, fmt.Sprintf("p%d", i))
		recs[i].Key = []byte(strconv.Itoa(i))
	}
	// Random filters, each of which takes some of the records: a filter
	// that takes none proves little.
	var conns []config.Connector
	for len(conns) < 4 {
		f := propFilter(rng)
		rule, err := filter.New(f)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(recs, func(r *kgo.Record) bool { ev, ok := propWant(r); return ok && rule.Match(record.MetaOf(ev)) }) {
			conns = append(conns, config.Connector{ID: fmt.Sprintf("c%d", len(conns)), Filter: f})
		}
	}
	tp := newPipeline(t, conns)
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.events))
	res := cl.ProduceSync(t.Context(), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	at := map[string]int{} // partition/offset -> input
	for _, pr := range res {
		i, _ := strconv.Atoi(string(pr.Record.Key))
		at[fmt.Sprintf("%d/%d", pr.Record.Partition, pr.Record.Offset)] = i
	}
	wantDead := map[int]bool{}
	wantIDs := map[string]map[string]bool{}
	for _, c := range conns {
		wantIDs[c.ID] = map[string]bool{}
	}
	for i, r := range recs {
		ev, ok := propWant(r)
		if !ok {
			wantDead[i] = true
			continue
		}
		for _, c := range conns {
			rule, _ := filter.New(c.Filter)
			if rule.Match(record.MetaOf(ev)) {
				wantIDs[c.ID][ev.GetId()] = true
			}
		}
	}
	t.Logf("%d inputs: %d to dead-letter", n, len(wantDead))
	startRouter(t, tp.path)

	routed := map[int]bool{}
	for _, c := range conns {
		checkTopic(t, tp.prefix+c.ID, wantIDs[c.ID])
		for id := range wantIDs[c.ID] {
			i, _ := strconv.Atoi(strings.TrimPrefix(id, "p"))
			routed[i] = true
		}
	}
	dead := kafkatest.ReadAll(t, tp.dlq, len(wantDead), 90*time.Second)
	gotDead := map[int]int{}
	for _, d := range dead {
		pos := record.HeaderValue(d.Headers, record.HeaderDLQPartition) + "/" + record.HeaderValue(d.Headers, record.HeaderDLQOffset)
		i, ok := at[pos]
		if !ok {
			t.Fatalf("dead letter from unknown position %s", pos)
		}
		gotDead[i]++
	}
	for i := range n {
		switch {
		case wantDead[i] && gotDead[i] != 1:
			t.Errorf("input %d (headers %q): dead-lettered %d times, want once", i, recs[i].Headers, gotDead[i])
		case !wantDead[i] && gotDead[i] != 0:
			t.Errorf("input %d (headers %q): dead-lettered, want routed on its value", i, recs[i].Headers)
		}
	}
}

// propFilter, propRecord and propWant are the in-process property test's
// generators and oracle (route/property_test.go), in small.
func propFilter(rng *rand.Rand) config.Filter {
	pick := func(from ...string) []string {
		var out []string
		for _, s := range from {
			if rng.IntN(4) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	tenants := []string{"acme", "acme-test", "globex", "acme*", "*-test", "g?obex"}
	actions := []string{"Login*", "UserCreated", "*Deleted"}
	f := config.Filter{
		Tenants: config.Patterns{Include: pick(tenants...), Exclude: pick(tenants...)},
		Actions: config.Patterns{Include: pick(actions...), Exclude: pick(actions...)},
	}
	if rng.IntN(2) == 0 {
		b := rng.IntN(2) == 0
		f.Tenantless = &b
	}
	return f
}

func propRecord(t *testing.T, rng *rand.Rand, id string) *kgo.Record {
	t.Helper()
	tenants := []string{"acme", "acme-test", "globex", "initech"}
	actions := []string{"LoginSucceed", "UserCreated", "UserDeleted"}
	ev := &auditv1.Event{Id: id, ProjectId: []string{"P1", "P2"}[rng.IntN(2)], Action: actions[rng.IntN(len(actions))],
		Occurred: timestamppb.New(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))}
	for range rng.IntN(4) {
		ev.Tenants = append(ev.Tenants, tenants[rng.IntN(len(tenants))])
	}
	enc := record.Protobuf
	if rng.IntN(4) == 0 {
		enc = record.JSON
	}
	r, err := record.Marshal(ev, enc)
	if err != nil {
		t.Fatal(err)
	}
	hs := slices.Clone(r.Headers)
	perturbations := 0
	if rng.IntN(2) == 0 {
		perturbations = 1 + rng.IntN(2)
	}
	for range perturbations {
		if len(hs) == 0 || len(r.Value) == 0 {
			break
		}
		i := rng.IntN(len(hs))
		switch rng.IntN(8) {
		case 0:
			hs = slices.Delete(hs, i, i+1)
		case 1:
			hs = append(hs, kgo.RecordHeader{Key: "tenant", Value: []byte(tenants[rng.IntN(len(tenants))])})
		case 2:
			hs = append(hs, hs[i])
		case 3:
			hs[i].Key = strings.ToUpper(hs[i].Key[:1]) + hs[i].Key[1:]
		case 4:
			hs[i].Value = append(slices.Clone(hs[i].Value), 0xff)
		case 5:
			if hs[i].Key == "tenant" {
				hs[i].Value = []byte(tenants[rng.IntN(len(tenants))])
			}
		case 6:
			rng.Shuffle(len(hs), func(a, b int) { hs[a], hs[b] = hs[b], hs[a] })
		case 7:
			r.Value = r.Value[:rng.IntN(len(r.Value))]
		}
	}
	r.Headers = hs
	return r
}

func propWant(r *kgo.Record) (*auditv1.Event, bool) {
	ev, err := record.Decode(r)
	if err != nil || record.Validate(ev) != nil {
		return nil, false
	}
	var projects, actions, tenants []string
	for _, h := range r.Headers {
		switch h.Key {
		case "project":
			projects = append(projects, string(h.Value))
		case "action":
			actions = append(actions, string(h.Value))
		case "tenant":
			tenants = append(tenants, string(h.Value))
		}
	}
	if len(projects) == 0 || len(actions) == 0 {
		return ev, true
	}
	want := slices.Clone(ev.GetTenants())
	slices.Sort(want)
	slices.Sort(tenants)
	return ev, slices.Equal(projects, []string{ev.GetProjectId()}) && slices.Equal(actions, []string{ev.GetAction()}) && slices.Equal(tenants, want)
}
