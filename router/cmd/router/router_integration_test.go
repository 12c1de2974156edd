//go:build integration

package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

func yes() *bool { b := true; return &b }

// Three connectors whose filters overlap: an event can go to none, one,
// two or all three.
var overlapping = []config.Connector{
	{ID: "logins", Filter: config.Filter{Actions: config.Patterns{Include: []string{"Login*"}}}},
	{ID: "big-tenants", Filter: config.Filter{Tenants: config.Patterns{Include: []string{"T0001", "T0002", "T0003"}}}},
	{ID: "archive", Filter: config.Filter{
		Actions:    config.Patterns{Exclude: []string{"TokenRefreshed"}},
		Tenants:    config.Patterns{Exclude: []string{"T0002"}},
		Tenantless: yes(),
	}},
}

func generate(seed uint64, n int) []*auditv1.Event {
	g := loadgen.New(loadgen.Config{Seed: seed, Tenants: 30})
	evs := make([]*auditv1.Event, n)
	for i := range evs {
		evs[i] = g.Next()
	}
	return evs
}

// TestRouteExactlyOnce: 100,000 events, three overlapping connectors: each
// connector topic holds exactly the expected ids, each once.
func TestRouteExactlyOnce(t *testing.T) {
	tp := newPipeline(t, overlapping)
	evs := generate(1, 100_000)
	publish(t, tp.events, evs)
	startRouter(t, tp.path)
	want := expected(t, overlapping, evs)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
}

// TestRouteReplicasKilled: two router replicas share the work; one is
// killed with SIGKILL twice while events flow (and restarted each time).
// Every connector topic still holds exactly the expected ids, each once.
func TestRouteReplicasKilled(t *testing.T) {
	tp := newPipeline(t, overlapping)
	evs := generate(2, 100_000)
	a := startRouter(t, tp.path)
	startRouter(t, tp.path)

	done := make(chan struct{})
	go func() {
		defer close(done)
		// Publish in slices, so the kills land while routing is under way.
		for i := 0; i < len(evs); i += 10_000 {
			publish(t, tp.events, evs[i:i+10_000])
			time.Sleep(600 * time.Millisecond)
		}
	}()
	for kill := 1; kill <= 2; kill++ {
		a.waitFor(t, "admin endpoints", 1, 30*time.Second)
		time.Sleep(2 * time.Second)
		a.kill9()
		t.Logf("SIGKILL %d sent to a router replica", kill)
		a = startRouter(t, tp.path)
	}
	<-done
	want := expected(t, overlapping, evs)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
}

// TestRouteMalformed: 1,000 bad records mixed into 10,000 good ones. Every
// bad record is in the DLQ with the right reason and its source position;
// the good events are routed as if the bad ones were not there.
func TestRouteMalformed(t *testing.T) {
	tp := newPipeline(t, overlapping)
	evs := generate(3, 10_000)
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.events))
	bad := map[string]func(i int) *kgo.Record{
		"malformed_protobuf": func(i int) *kgo.Record {
			return &kgo.Record{Value: []byte("\xff\xfe\xfd" + strconv.Itoa(i)), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(record.ContentTypeProtobuf)}}}
		},
		"malformed_json": func(i int) *kgo.Record {
			return &kgo.Record{Value: []byte(`{"projectId": "P1", "action": ` + strconv.Itoa(i))}
		},
		"missing_projectId": func(i int) *kgo.Record {
			return &kgo.Record{Value: []byte(`{"id":"bad-` + strconv.Itoa(i) + `","action":"LoginSucceed","occurred":"2026-01-01T00:00:00Z"}`)}
		},
		"too_large": func(i int) *kgo.Record {
			return &kgo.Record{Value: []byte(strings.Repeat("x", 70<<10)), Headers: []kgo.RecordHeader{{Key: "project", Value: []byte("P1")}, {Key: "action", Value: []byte("LoginSucceed")}}}
		},
	}
	var recs []*kgo.Record
	wantReason := map[string]string{} // record key -> reason
	reasons := []string{"malformed_protobuf", "malformed_json", "missing_projectId", "too_large"}
	for i, ev := range evs {
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		if i%10 == 0 { // one bad record after every tenth good one: 1,000 in all
			reason := reasons[(i/10)%len(reasons)]
			b := bad[reason](i)
			b.Key = []byte("bad-" + strconv.Itoa(i))
			wantReason[string(b.Key)] = reason
			recs = append(recs, b)
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	startRouter(t, tp.path)

	want := expected(t, overlapping, evs)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	dead := kafkatest.ReadAll(t, tp.dlq, len(wantReason), 60*time.Second)
	if len(dead) != len(wantReason) {
		t.Fatalf("DLQ holds %d records, want %d", len(dead), len(wantReason))
	}
	for _, d := range dead {
		key := string(d.Key)
		if got := record.HeaderValue(d.Headers, record.HeaderDLQReason); got != wantReason[key] {
			t.Errorf("%s: reason %q, want %q", key, got, wantReason[key])
		}
		if record.HeaderValue(d.Headers, record.HeaderDLQTopic) != tp.events || record.HeaderValue(d.Headers, record.HeaderDLQOffset) == "" ||
			record.HeaderValue(d.Headers, record.HeaderDLQStage) != "router" {
			t.Errorf("%s: source headers missing: %v", key, d.Headers)
		}
		delete(wantReason, key)
	}
	if len(wantReason) > 0 {
		t.Errorf("%d bad records are not in the DLQ", len(wantReason))
	}
}

// TestRouteEventsAtTheSizeCap: with the default 1 MiB cap, an event just
// under it (larger than Kafka's and franz-go's ~1 MB defaults once it has
// headers) is routed, and one just over it goes to the DLQ whole. The
// router sizes its producer and the topics it creates for such records.
func TestRouteEventsAtTheSizeCap(t *testing.T) {
	tp := newPipeline(t, overlapping)
	tp.maxEventBytes = "1MiB"
	tp.write(t, overlapping)
	p, err := config.Load(tp.path)
	if err != nil {
		t.Fatal(err)
	}
	// The test made the events topic; give it the limit router setup would.
	adm := kadm.NewClient(kafkatest.Client(t))
	limit := strconv.Itoa(int(p.SourceRecordBytes()))
	if _, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &limit}}, tp.events); err != nil {
		t.Fatal(err)
	}

	const under, over = 1<<20 - 40, 1<<20 + 20_000
	evs := generate(5, 100)
	g := loadgen.New(loadgen.Config{Seed: 6, PadTo: under})
	large := g.Next()
	large.Action, large.Tenants = "LoginSucceed", []string{"T0001"} // every connector takes it
	tooLarge := loadgen.New(loadgen.Config{Seed: 7, PadTo: over}).Next()
	if n := proto.Size(large); n > 1<<20 || n < 1<<20-200 {
		t.Fatalf("the large event is %d bytes; want just under 1 MiB", n)
	}
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(tp.events), kgo.ProducerBatchMaxBytes(p.SourceRecordBytes()))
	var recs []*kgo.Record
	for _, ev := range append(evs, large, tooLarge) {
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	startRouter(t, tp.path)

	want := expected(t, overlapping, append(evs, large))
	for _, c := range overlapping {
		if !want[c.ID][large.GetId()] {
			t.Fatalf("connector %s does not take the large event; the test needs it to", c.ID)
		}
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	dead := kafkatest.ReadAll(t, tp.dlq, 1, 60*time.Second)
	if len(dead) != 1 || record.HeaderValue(dead[0].Headers, record.HeaderDLQReason) != record.ReasonTooLarge || len(dead[0].Value) != len(recs[len(recs)-1].Value) {
		t.Fatalf("DLQ: %d records; want the over-cap event, whole, with reason too_large", len(dead))
	}
}

// TestRouteReload: a SIGHUP reload removes one connector and adds another
// mid-stream. Before the reload point the old connectors receive, after it
// the new ones; an invalid file in between is rejected and changes nothing.
func TestRouteReload(t *testing.T) {
	before := []config.Connector{overlapping[0], overlapping[1]}
	after := []config.Connector{overlapping[1], overlapping[2]}
	tp := newPipeline(t, before)
	r := startRouter(t, tp.path)

	batch1 := generate(4, 5_000)
	publish(t, tp.events, batch1)
	want1 := expected(t, before, batch1)
	checkTopic(t, tp.prefix+"logins", want1["logins"]) // batch 1 fully routed

	// An invalid file is rejected; the running config stays.
	if err := writeFile(tp.path, "connectors: [{id: BAD ID}]\n"); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Process.Signal(syscallHUP)
	r.waitFor(t, "config reload rejected", 1, 10*time.Second)

	tp.write(t, after)
	_ = r.cmd.Process.Signal(syscallHUP)
	r.waitFor(t, "config reloaded", 1, 30*time.Second)

	batch2 := generate(5, 5_000)
	publish(t, tp.events, batch2)
	want2 := expected(t, after, batch2)

	union := func(a, b map[string]bool) map[string]bool {
		out := map[string]bool{}
		for id := range a {
			out[id] = true
		}
		for id := range b {
			out[id] = true
		}
		return out
	}
	checkTopic(t, tp.prefix+"big-tenants", union(want1["big-tenants"], want2["big-tenants"]))
	checkTopic(t, tp.prefix+"archive", want2["archive"]) // added: from the reload point on
	checkTopic(t, tp.prefix+"logins", want1["logins"])   // removed: nothing after the reload
}
