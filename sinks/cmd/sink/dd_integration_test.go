//go:build integration

package main

// End-to-end tests of the Datadog sink (issue #5): the sink binary on the
// real Kafka, delivering to the Datadog Logs intake test server (ddintake)
// run in process, with the faults the issue names. Each test checks the end
// state: every event id accepted by the intake, or in the dead-letter topic.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/auditstream/auditstream/ddintake"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// ddKey is the API key the test intakes accept. It is not a real key.
const ddKey = "e2e-dd-api-key-accepted-0123456789"

// ddTags are the connector's own tags, which every log carries after the
// event's.
var ddTags = []string{"env:e2e", "team:audit"}

// intake is the Datadog intake test server on 127.0.0.1, with a record of
// every request the sink sent to the logs endpoint.
type intake struct {
	*ddintake.Server
	url string

	mu   sync.Mutex
	reqs []intakeRequest
}

// intakeRequest is one request to the logs endpoint: when it came and what
// the server answered.
type intakeRequest struct {
	at     time.Time
	status int
	reset  time.Duration // X-RateLimit-Reset, when the answer carried one
}

// startIntake serves a new intake test server that accepts keys, until the
// test ends.
func startIntake(t *testing.T, keys ...string) *intake {
	t.Helper()
	in := &intake{Server: ddintake.New(ddintake.Options{APIKeys: keys})}
	ts := httptest.NewServer(in) // on 127.0.0.1
	t.Cleanup(ts.Close)
	in.url = ts.URL
	return in
}

// ServeHTTP hands the request to the intake and records the answers of the
// logs endpoint.
func (in *intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/logs" {
		in.Server.ServeHTTP(w, r)
		return
	}
	req := intakeRequest{at: time.Now()}
	sw := &statusWriter{ResponseWriter: w}
	in.Server.ServeHTTP(sw, r)
	req.status = sw.status
	if s, err := strconv.Atoi(sw.Header().Get("X-RateLimit-Reset")); err == nil {
		req.reset = time.Duration(s) * time.Second
	}
	in.mu.Lock()
	in.reqs = append(in.reqs, req)
	in.mu.Unlock()
}

// requests returns the requests to the logs endpoint so far, in the order
// they came.
func (in *intake) requests() []intakeRequest {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]intakeRequest(nil), in.reqs...)
}

// answered counts the requests answered with status.
func (in *intake) answered(status int) int {
	n := 0
	for _, r := range in.requests() {
		if r.status == status {
			n++
		}
	}
	return n
}

// delivered returns how many times the intake accepted each event id, read
// from the logs' messages.
func (in *intake) delivered(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, l := range in.Logs() {
		got[messageEvent(t, l.Message).GetId()]++
	}
	return got
}

// statusWriter notes the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (drop faults).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// messageEvent decodes a log's message, the event's protojson.
func messageEvent(t *testing.T, msg string) *auditv1.Event {
	t.Helper()
	ev := &auditv1.Event{}
	if err := protojson.Unmarshal([]byte(msg), ev); err != nil {
		t.Fatalf("a log's message is not an event: %v: %.200s", err, msg)
	}
	return ev
}

// ddConnector is one test's Datadog connector: its topics, the intake it
// delivers to, its key file, its pipeline file and a publisher.
type ddConnector struct {
	id, topic, dlq, group string
	in                    *intake
	keyFile               string
	cfg                   string
	pub                   *publisher
}

// newDDConnector creates the topics of a datadog connector id with
// partitions, and an intake that accepts ddKey; the connector reads the key
// from keyFile, which holds ddKey until the test changes it. batch is the
// connector's batch settings.
func newDDConnector(t *testing.T, id string, partitions int32, batch string, seed uint64) *ddConnector {
	t.Helper()
	base, prefix, topic := connectorTopic(t, id, partitions)
	c := &ddConnector{id: id, topic: topic, dlq: base + ".dlq", group: "auditstream-sink-" + id, in: startIntake(t, ddKey)}
	// Nothing creates the dead-letter topic but the router, which these
	// tests do not run; the broker does not create topics on demand.
	adm := kadm.NewClient(kafkatest.Client(t))
	resp, err := adm.CreateTopic(context.Background(), 1, 1, nil, c.dlq)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", c.dlq, err, resp.Err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), c.dlq) })

	c.keyFile = filepath.Join(t.TempDir(), "dd-api-key")
	c.setKey(t, ddKey)
	c.cfg = writeConfig(t, fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {dlq: {name: %s, partitions: 1}, connector_prefix: %s}
connectors:
  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: %s
    datadog:
      url: %s
      api_key: {file: %s}
      ddsource: e2e-source
      service: e2e-service
      hostname: e2e-host
      tags: [%s]
`, strings.Join(kafkatest.Brokers(t), ","), c.dlq, prefix, id, batch, c.in.url, c.keyFile, strings.Join(ddTags, ", ")))
	c.pub = newPublisher(t, topic, seed)
	return c
}

// setKey replaces the key file's content at once, as a secret rotation
// does (write, then rename over).
func (c *ddConnector) setKey(t *testing.T, key string) {
	t.Helper()
	tmp := c.keyFile + ".new"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.keyFile); err != nil {
		t.Fatal(err)
	}
}

// allowRecords lets the connector topic and its dead-letter topic hold
// records up to n bytes, and the publisher send them; the pipeline's event
// cap becomes n, which sizes the sink's dead-letter producer to match.
func (c *ddConnector) allowRecords(t *testing.T, n int) {
	t.Helper()
	f, err := os.OpenFile(c.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "router: {max_event_bytes: %d}\n", n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(kafkatest.Client(t))
	v := strconv.Itoa(n)
	resp, err := adm.AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, c.topic, c.dlq)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%s: %w", r.Name, r.Err)
			}
		}
	}
	if err != nil {
		t.Fatalf("raise max.message.bytes: %v", err)
	}
	c.pub.cl = kafkatest.Client(t, kgo.DefaultProduceTopic(c.topic), kgo.ProducerBatchMaxBytes(int32(n)))
}

// publishMarked publishes n events and returns the id of the one at index
// at, which is passed through edit first when edit is set.
func (c *ddConnector) publishMarked(n, at int, edit func(*auditv1.Event)) string {
	var id string
	i := 0
	c.pub.publish(n, func(ev *auditv1.Event) {
		if i == at {
			id = ev.GetId()
			if edit != nil {
				edit(ev)
			}
		}
		i++
	})
	return id
}

// start runs the sink for the connector.
func (c *ddConnector) start(t *testing.T) *sinkProc {
	t.Helper()
	return startSink(t, c.cfg, c.id)
}

// checkDelivered fails t when an event the publisher wrote, other than
// those in dlq, was not accepted, when an event in dlq was, or when
// anything else was. It returns how many ids were accepted more than once,
// and how many extra copies that made.
func (c *ddConnector) checkDelivered(t *testing.T, dlq ...string) (dupIDs, dupCopies int) {
	t.Helper()
	want := make(map[string]bool, len(c.pub.want))
	for id := range c.pub.want {
		want[id] = true
	}
	for _, id := range dlq {
		delete(want, id)
	}
	got := c.in.delivered(t)
	for _, id := range dlq {
		if got[id] > 0 {
			t.Errorf("event %s, meant for the dead-letter topic, was accepted %d times", id, got[id])
		}
	}
	for _, n := range got {
		if n > 1 {
			dupCopies += n - 1
		}
	}
	missing, dupIDs, extra := kafkatest.Tally(want, got)
	if missing+extra > 0 {
		t.Fatalf("the intake accepted %d distinct events of %d: %d missing, %d unexpected (%d duplicated)",
			len(got), len(want), missing, extra, dupIDs)
	}
	return dupIDs, dupCopies
}

// noCommit fails t when the group has committed any offset of the topic.
func (c *ddConnector) noCommit(t *testing.T, adm *kadm.Client, when string) {
	t.Helper()
	for p, o := range committed(t, adm, c.group, c.topic) {
		if o > 0 {
			t.Fatalf("%s: partition %d committed through offset %d", when, p, o)
		}
	}
}

// header returns the value of a record's header key.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// readDLQ reads the n dead letters the test expects and fails unless
// exactly n are there. It returns them by event id.
func (c *ddConnector) readDLQ(t *testing.T, n int) map[string]*kgo.Record {
	t.Helper()
	recs := kafkatest.ReadAll(t, c.dlq, n, 30*time.Second)
	if len(recs) != n {
		t.Fatalf("%s holds %d records, want %d", c.dlq, len(recs), n)
	}
	out := map[string]*kgo.Record{}
	for _, r := range recs {
		ev, err := record.Decode(r)
		if err != nil {
			t.Fatalf("dead letter at %s offset %d: %v", c.dlq, r.Offset, err)
		}
		out[ev.GetId()] = r
	}
	return out
}

// TestDDDeliversWithMapping: 20,000 events from three partitions. Every
// event id is accepted exactly once (nothing failed, so nothing was sent
// twice), its message is the event, its ddtags are project, each tenant,
// action and type then the connector's tags, ddsource, service and
// hostname are the connector's, and its timestamp is the event's occurred.
func TestDDDeliversWithMapping(t *testing.T) {
	c := newDDConnector(t, "dd-map", 3, "{max_events: 1000, max_age: 500ms}", 51)
	events := map[string]*auditv1.Event{}
	c.pub.publish(20_000, func(ev *auditv1.Event) { events[ev.GetId()] = ev })
	sink := c.start(t)
	waitCommitted(t, c.group, c.topic, 90*time.Second)

	dup, _ := c.checkDelivered(t)
	if dup > 0 {
		t.Errorf("%d events accepted more than once, with no fault injected", dup)
	}
	bad := 0
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for _, l := range c.in.Logs() {
		got := messageEvent(t, l.Message)
		want := events[got.GetId()]
		if want == nil {
			continue // checkDelivered reported it
		}
		if !proto.Equal(got, want) {
			report("event %s: message %s, want %s", want.GetId(), l.Message, protojson.Format(want))
		}
		tags := []string{"project:" + want.GetProjectId()}
		for _, tn := range want.GetTenants() {
			tags = append(tags, "tenant:"+tn)
		}
		tags = append(tags, "action:"+want.GetAction(), "type:"+want.GetType())
		tags = append(tags, ddTags...)
		if l.Tags != strings.Join(tags, ",") {
			report("event %s: ddtags %q, want %q", want.GetId(), l.Tags, strings.Join(tags, ","))
		}
		if l.Source != "e2e-source" || l.Service != "e2e-service" || l.Hostname != "e2e-host" {
			report("event %s: ddsource %q, service %q, hostname %q; want e2e-source, e2e-service, e2e-host",
				want.GetId(), l.Source, l.Service, l.Hostname)
		}
		if occ := time.UnixMilli(want.GetOccurred().AsTime().UnixMilli()); !l.Timestamp.Equal(occ) {
			report("event %s: timestamp %v, want occurred %v", want.GetId(), l.Timestamp, occ)
		}
		if l.Truncated || l.TooOld {
			report("event %s: truncated %v, too old %v", want.GetId(), l.Truncated, l.TooOld)
		}
	}
	if bad > 0 {
		t.Fatalf("%d mapping problems among %d logs", bad, len(events))
	}
	st := c.in.Stats()
	t.Logf("%d events in %d accepted requests; %v with 1000 entries; sink delivered %v",
		st.EntriesAccepted, st.ByStatus[http.StatusAccepted], st.EntriesPerRequest[1000],
		sink.Metric("auditstream_sink_delivered_total"))
}

// TestDDRateLimitStorm: the intake answers every request with 429 for
// 30 s, six rate-limit periods of 5 s whose X-RateLimit-Reset is the time
// left in the period, then recovers. The sink waits as it is told after
// each 429 (never less than the reset before its next request), commits
// nothing during the storm, and delivers everything after it.
func TestDDRateLimitStorm(t *testing.T) {
	t.Parallel() // it mostly waits
	// One partition: its batches are written one request at a time, so
	// consecutive requests are the same writer's attempts.
	c := newDDConnector(t, "dd-storm", 1, "{max_events: 1000, max_age: 500ms}", 52)
	sink := c.start(t)
	eventually(t, 60*time.Second, "the sink to be ready", sink.Ready)

	const period, periods = 5 * time.Second, 6
	stormStart := time.Now()
	for i := range periods {
		// Each period overlaps the next by 50 ms, so that no request falls
		// between two.
		if _, err := c.in.Inject(ddintake.Fault{
			Kind: ddintake.KindStatus, Status: http.StatusTooManyRequests,
			After: time.Duration(i) * period, For: period + 50*time.Millisecond,
			RateLimit: ddintake.RateLimit{Limit: 1000, Period: period},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Every period starts at or after stormStart+i*period, so the storm
	// lasts at least until stormEnd.
	stormEnd := stormStart.Add(periods * period)
	c.pub.publish(5000, nil)

	adm := kadm.NewClient(kafkatest.Client(t))
	for time.Now().Before(stormEnd.Add(-time.Second)) {
		c.noCommit(t, adm, "during the 429 storm")
		if n := c.in.Stats().EntriesAccepted; n > 0 {
			t.Fatalf("during the 429 storm: the intake accepted %d logs", n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitCommitted(t, c.group, c.topic, 90*time.Second)
	dupIDs, _ := c.checkDelivered(t)

	reqs := c.in.requests()
	limited := 0
	for i, r := range reqs {
		if r.status != http.StatusTooManyRequests {
			continue
		}
		limited++
		if r.reset <= 0 {
			t.Errorf("429 at %v carried no X-RateLimit-Reset", r.at.Sub(stormStart))
		}
		if i+1 == len(reqs) {
			t.Fatalf("the last request was answered 429")
		}
		// The sink's timer never fires early; 20 ms allows for the clock
		// reads around it.
		if gap := reqs[i+1].at.Sub(r.at); gap < r.reset-20*time.Millisecond {
			t.Errorf("request %d came %v after a 429 that said to wait %v", i+1, gap, r.reset)
		}
	}
	for _, l := range c.in.Logs() {
		if l.Received.Before(stormEnd) {
			t.Fatalf("a log was accepted %v into the storm", l.Received.Sub(stormStart))
		}
	}
	// One request per period when the sink waits as told; a sink that
	// retried on its own backoff would have sent dozens.
	if limited < periods-1 || limited > 2*periods {
		t.Errorf("%d requests answered 429 in a storm of %d periods; want about one per period", limited, periods)
	}
	if got := sink.Metric("auditstream_sink_retries_total", `reason="rate_limited"`); int(got) != limited {
		t.Errorf("the sink counted %v rate-limited retries, the intake answered %d 429s", got, limited)
	}
	t.Logf("%d requests answered 429 over %v; %d events delivered after the storm (%d duplicated)",
		limited, periods*period, len(c.pub.want), dupIDs)
}

// TestDDRandom500s: the intake answers a seeded 20% of requests with 500.
// Every event arrives; the duplicates are reported.
func TestDDRandom500s(t *testing.T) {
	// Small batches make enough requests for the 500s to matter.
	c := newDDConnector(t, "dd-flaky", 3, "{max_events: 250, max_age: 500ms}", 53)
	if _, err := c.in.Inject(ddintake.Fault{Kind: ddintake.KindStatus, Status: http.StatusInternalServerError, Probability: 0.2, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	sink := c.start(t)
	c.pub.publish(10_000, nil)
	waitCommitted(t, c.group, c.topic, 90*time.Second)
	dupIDs, dupCopies := c.checkDelivered(t)

	failed := c.in.answered(http.StatusInternalServerError)
	if failed == 0 {
		t.Fatalf("no request was answered 500 out of %d", len(c.in.requests()))
	}
	if got := sink.Metric("auditstream_sink_retries_total", `reason="error"`); int(got) != failed {
		t.Errorf("the sink counted %v retries after errors, the intake answered %d 500s", got, failed)
	}
	t.Logf("duplicates: %d of %d events accepted more than once (%d extra copies); %d of %d requests answered 500",
		dupIDs, len(c.pub.want), dupCopies, failed, len(c.in.requests()))
}

// TestDDPoisonEntry: one entry of a batch of 1000 is rejected by the intake
// with 400. The sink splits the batch until the entry stands alone: the
// 999 others are accepted once each, and the poison entry is in the
// dead-letter topic with its reason and the intake's answer.
func TestDDPoisonEntry(t *testing.T) {
	c := newDDConnector(t, "dd-poison", 1, "{max_events: 1000, max_age: 2s}", 54)
	const poisonAt = 437
	poison := c.publishMarked(1000, poisonAt, nil)
	if _, err := c.in.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: poison}); err != nil {
		t.Fatal(err)
	}
	sink := c.start(t) // after publishing: the 1000 events make one batch
	waitCommitted(t, c.group, c.topic, 60*time.Second)

	if dup, _ := c.checkDelivered(t, poison); dup > 0 {
		t.Errorf("%d events accepted more than once; a split resends only what was not accepted", dup)
	}
	full := sink.Metric("auditstream_datadog_request_entries_bucket", `le="1000"`) -
		sink.Metric("auditstream_datadog_request_entries_bucket", `le="999"`)
	if full < 1 {
		t.Errorf("no request carried 1000 entries: the poison was not in a batch of 1000")
	}

	d := c.readDLQ(t, 1)[poison]
	if d == nil {
		t.Fatalf("the dead letter is not the poison event %s", poison)
	}
	for key, want := range map[string]string{
		record.HeaderDLQReason:    "rejected_by_intake",
		record.HeaderDLQStage:     "sink:dd-poison",
		record.HeaderDLQTopic:     c.topic,
		record.HeaderDLQPartition: "0",
		record.HeaderDLQOffset:    strconv.Itoa(poisonAt),
	} {
		if got := header(d, key); got != want {
			t.Errorf("dead letter header %s: got %q, want %q", key, got, want)
		}
	}
	// The intake's answer: {"errors":[{"status":"400",...,"detail":"entry 0: message contains poison \"<id>\""}]}.
	if e := header(d, record.HeaderDLQError); !strings.Contains(e, `"errors"`) || !strings.Contains(e, "message contains poison") || !strings.Contains(e, poison) {
		t.Errorf("dead letter header %s does not carry the intake's answer: %q", record.HeaderDLQError, e)
	}
	if got := sink.Metric("auditstream_sink_dlq_total", `reason="rejected_by_intake"`); got != 1 {
		t.Errorf("the sink counted %v dead letters, want 1", got)
	}
	t.Logf("999 delivered, poison %s in the DLQ after %d requests (%d answered 400)",
		poison, len(c.in.requests()), c.in.answered(http.StatusBadRequest))
}

// TestDDWrongAPIKey: the key file holds a key the intake refuses (403).
// The sink commits nothing, delivers nothing, keeps retrying, and reports
// not ready; it never logs a key. Once the file holds the right key, it
// delivers everything by itself and is ready again.
func TestDDWrongAPIKey(t *testing.T) {
	t.Parallel() // it mostly waits
	const partitions = 2
	c := newDDConnector(t, "dd-key", partitions, "{max_events: 1000, max_age: 500ms}", 55)
	const wrong = "e2e-dd-api-key-refused-9876543210"
	c.setKey(t, wrong)
	sink := c.start(t)
	c.pub.publish(3000, nil)

	// The wrong-key phase lasts until each partition has been refused and
	// the sink has retried at least once.
	adm := kadm.NewClient(kafkatest.Client(t))
	sawNotReady := false
	eventually(t, 60*time.Second, "the sink to retry with the refused key", func() bool {
		c.noCommit(t, adm, "with the wrong key")
		if n := c.in.Stats().EntriesAccepted; n > 0 {
			t.Fatalf("with the wrong key: the intake accepted %d logs", n)
		}
		refused := c.in.answered(http.StatusForbidden)
		if refused > 0 {
			ready := sink.Ready()
			if sawNotReady && ready {
				t.Fatalf("the sink became ready again with the wrong key")
			}
			sawNotReady = sawNotReady || !ready
		}
		return refused > partitions && sawNotReady
	})
	c.noCommit(t, adm, "with the wrong key")

	c.setKey(t, ddKey)
	waitCommitted(t, c.group, c.topic, 60*time.Second)
	dupIDs, _ := c.checkDelivered(t)
	eventually(t, 30*time.Second, "the sink to be ready with the right key", sink.Ready)
	log := sink.Log()
	if strings.Contains(log, wrong) || strings.Contains(log, ddKey) {
		t.Errorf("the sink logged an API key")
	}
	t.Logf("%d requests refused (403) before the key was fixed; then %d events delivered (%d duplicated)",
		c.in.answered(http.StatusForbidden), len(c.pub.want), dupIDs)
}

// TestDDOversizedEvent: a 2 MB event between 200 others. The topics allow
// such records; the intake does not take a log over 1 MB. The event goes
// to the dead-letter topic, too_large, whole; its neighbours are
// delivered; the intake never saw it, so never truncated it.
func TestDDOversizedEvent(t *testing.T) {
	c := newDDConnector(t, "dd-big", 1, "{max_events: 1000, max_age: 1s}", 56)
	c.allowRecords(t, 4<<20)
	big := c.publishMarked(201, 100, func(ev *auditv1.Event) {
		ev.Data.Fields["blob"] = structpb.NewStringValue(strings.Repeat("x", 2_000_000))
	})
	sink := c.start(t)
	waitCommitted(t, c.group, c.topic, 60*time.Second)
	c.checkDelivered(t, big)
	if st := c.in.Stats(); st.EntriesTruncated > 0 {
		t.Errorf("the intake truncated %d logs", st.EntriesTruncated)
	}

	d := c.readDLQ(t, 1)[big]
	if d == nil {
		t.Fatalf("the dead letter is not the 2 MB event %s", big)
	}
	if got := header(d, record.HeaderDLQReason); got != "too_large" {
		t.Errorf("dead letter reason %q, want too_large", got)
	}
	if e := header(d, record.HeaderDLQError); !strings.Contains(e, big) || !strings.Contains(e, "over the intake's limit") {
		t.Errorf("dead letter error %q does not say why", e)
	}
	if len(d.Value) < 2_000_000 {
		t.Errorf("the dead letter holds %d bytes, not the whole event", len(d.Value))
	}
	if got := sink.Metric("auditstream_sink_dlq_total", `reason="too_large"`); got != 1 {
		t.Errorf("the sink counted %v too_large dead letters, want 1", got)
	}
	t.Logf("the %d-byte record is in the DLQ; its 200 neighbours delivered", len(d.Value))
}

// TestDDSinkKilled: 12,000 events, with the sink killed by SIGKILL three
// times while requests are in flight. Nothing is lost. The duplicates (logs
// the intake accepted but the killed sink had not committed) are reported;
// they are bounded by the batch in flight on each partition at each kill.
func TestDDSinkKilled(t *testing.T) {
	t.Parallel()
	const partitions, maxEvents, kills, chunk = 3, 500, 3, 3000
	c := newDDConnector(t, "dd-kill", partitions, fmt.Sprintf("{max_events: %d, max_age: 500ms}", maxEvents), 57)
	// Slow answers keep requests in flight when the kill comes.
	if _, err := c.in.Inject(ddintake.Fault{Kind: ddintake.KindLatency, Latency: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sink := c.start(t)
	for kill := 1; kill <= kills; kill++ {
		c.pub.publish(chunk, nil)
		// Mid-stream: about half of this chunk accepted, the rest not yet.
		target := kill*chunk - chunk/2
		eventually(t, 90*time.Second, fmt.Sprintf("%d logs to be accepted before kill %d", target, kill), func() bool {
			return c.in.Stats().EntriesAccepted >= target
		})
		sink.Kill()
		t.Logf("SIGKILL %d after %d logs accepted", kill, c.in.Stats().EntriesAccepted)
		sink = c.start(t)
	}
	c.pub.publish(chunk, nil)
	waitCommitted(t, c.group, c.topic, 120*time.Second)
	dupIDs, dupCopies := c.checkDelivered(t)
	t.Logf("duplicates: %d of %d events accepted more than once (%d extra copies) after %d SIGKILLs",
		dupIDs, len(c.pub.want), dupCopies, kills)
	// A batch is committed as soon as the intake accepts it, so a kill can
	// repeat at most the batch each partition had in flight.
	if bound := kills * partitions * maxEvents; dupCopies > bound {
		t.Errorf("%d extra copies; a kill repeats at most one batch per partition, %d in all", dupCopies, bound)
	}
}
