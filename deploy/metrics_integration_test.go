//go:build integration

package deploy

// TestEveryQueriedMetricIsServed runs the real router and two sinks (S3 to
// MinIO, Datadog to the intake test server) on the local stack, pushes
// events through them (and the records that make the conditional series
// exist: a record that does not decode, one with an unknown field, one past
// the router that its connector's filter rejects, records deleted before
// the S3 sink delivered them, a poisoned Datadog entry and a refused
// request), then scrapes their /metrics and checks that every
// metric the dashboard and the alert rules query is served, with the labels
// the queries use.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/ddintake"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

func TestEveryQueriedMetricIsServed(t *testing.T) {
	qs := append(dashboardQueries(t), ruleQueries(t)...)
	bins := buildServices(t)
	cfg := newObsPipeline(t)

	router := startService(t, bins["router"], "run", "--config", cfg.path)
	s3Sink := startService(t, bins["sink"], "run", "--config", cfg.path, "--connector", cfg.s3ID)
	ddSink := startService(t, bins["sink"], "run", "--config", cfg.path, "--connector", cfg.ddID)
	procs := []*service{router, s3Sink, ddSink}

	// The first Datadog request is refused once (a retry), and the poison
	// event's entry always (a rejection and a dead letter).
	if _, err := cfg.intake.Inject(ddintake.Fault{Kind: ddintake.KindStatus, Status: http.StatusServiceUnavailable, Count: 1}); err != nil {
		t.Fatal(err)
	}
	good := cfg.publish(t)

	// Wait for the end state: every good event delivered by each sink, the
	// poison and the stray event dead-lettered; then every series the
	// queries name should be served.
	want := map[*service]map[string]float64{
		s3Sink: {
			"auditstream_sink_delivered_total":       float64(good + 1), // and the record after the expired ones
			"auditstream_sink_filter_mismatch_total": 1,
			"auditstream_sink_expired_records_total": expired,
		},
		ddSink: {"auditstream_sink_delivered_total": float64(good - 1), "auditstream_datadog_rejected_total": 1},
		router: {"auditstream_router_dlq_total": 1, "auditstream_router_unknown_fields_total": 1},
	}
	var srv served
	var missing map[string][]string
	var badLabels []string
	// Once the end state is reached, a series still missing gets a few
	// more scrapes before it counts as not served.
	deadline := time.Now().Add(2 * time.Minute)
	var ended time.Time
	for {
		srv = served{}
		atEnd := true
		for _, p := range procs {
			fams := p.scrape(t)
			addServed(srv, fams)
			for name, v := range want[p] {
				if got := sum(fams[name]); got != v {
					atEnd = false
				}
			}
		}
		if atEnd && ended.IsZero() {
			ended = time.Now()
		}
		missing, badLabels = unserved(qs, srv)
		if atEnd && len(missing) == 0 || !ended.IsZero() && time.Since(ended) > 5*time.Second || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for p, ws := range want {
		fams := p.scrape(t)
		for name, v := range ws {
			if got := sum(fams[name]); got != v {
				t.Errorf("%s: %s is %v, want %v", p.name, name, got, v)
			}
		}
	}

	for _, name := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("%s is queried but no service serves it; queried by:\n\t%s", name, strings.Join(missing[name], "\n\t"))
	}
	for _, b := range badLabels {
		t.Error(b)
	}
	t.Logf("%d queries name %d metrics; the services serve %d series names", len(qs), countNames(qs), len(srv))
}

// buildServices builds the router and the sink into a temporary directory.
func buildServices(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for name, pkg := range map[string][2]string{"router": {"../router", "./cmd/router"}, "sink": {"../sinks", "./cmd/sink"}} {
		start := time.Now()
		bins[name] = filepath.Join(dir, name)
		if err := proctest.Build(pkg[0], pkg[1], bins[name], "goccy_gojson"); err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		t.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	}
	return bins
}

// obsPipeline is a pipeline of this test's own topics, bucket and intake.
type obsPipeline struct {
	path                string
	events, dlq, prefix string
	s3ID, ddID          string
	intake              *ddintake.Server
	poison              string // the id of the event the intake rejects
	brokers             []string
}

func newObsPipeline(t *testing.T) *obsPipeline {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	p := &obsPipeline{
		events: "test.observability." + id, s3ID: "obs-s3-" + id, ddID: "obs-dd-" + id,
		brokers: kafkatest.Brokers(t),
	}
	p.dlq, p.prefix = p.events+".dlq", p.events+".c."

	adm := kadm.NewClient(kafkatest.Client(t))
	ctx := context.Background()
	for topic, parts := range map[string]int32{p.events: 2, p.dlq: 1, p.prefix + p.s3ID: 2, p.prefix + p.ddID: 2} {
		resp, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	}

	s3Endpoint, akFile, skFile := proctest.Env(t, "AUDITSTREAM_S3_ENDPOINT"), proctest.Env(t, "AUDITSTREAM_S3_ACCESS_KEY_FILE"), proctest.Env(t, "AUDITSTREAM_S3_SECRET_KEY_FILE")
	bucket := "obs-" + id
	s3c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(proctest.ReadFile(t, akFile), proctest.ReadFile(t, skFile), ""),
	})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}

	p.expireBeforeDelivery(t, adm)

	const ddKey = "obs-test-dd-api-key-0123456789abcdef"
	p.intake = ddintake.New(ddintake.Options{APIKeys: []string{ddKey}})
	ts := httptest.NewServer(p.intake)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "dd-api-key")
	if err := os.WriteFile(keyFile, []byte(ddKey), 0o600); err != nil {
		t.Fatal(err)
	}

	p.path = filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`kafka: {brokers: [%s]}
topics:
  events: {name: %s, partitions: 2}
  dlq: {name: %s, partitions: 1}
  connector_prefix: %s
  connector: {partitions: 2}
router: {group: %s.router, listen: 127.0.0.1:0, commit_interval: 200ms}
connectors:
  - id: %s
    type: s3
    filter: {tenants: {exclude: [T-other]}}
    listen: 127.0.0.1:0
    batch: {max_events: 100, max_age: 1s}
    s3:
      bucket: %s
      prefix: obs
      endpoint: %s
      path_style: true
      credentials: {source: static, access_key_id: {file: %s}, secret_access_key: {file: %s}}
  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_events: 100, max_age: 1s}
    datadog: {url: %s, api_key: {file: %s}}
`, strings.Join(p.brokers, ","), p.events, p.dlq, p.prefix, p.events, p.s3ID, bucket, s3Endpoint, akFile, skFile, p.ddID, ts.URL, keyFile)
	if err := os.WriteFile(p.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// expired is how many records of the S3 connector's partition 0 retention
// "deletes" before its sink delivers them; one more record after them is
// delivered.
const expired = 3

// expireBeforeDelivery makes a loss the S3 sink finds when it starts: its
// group has committed offset 0 of partition 0, and the records below offset
// expired are deleted (as retention would) before it reads them.
func (p *obsPipeline) expireBeforeDelivery(t *testing.T, adm *kadm.Client) {
	t.Helper()
	ctx := context.Background()
	topic := p.prefix + p.s3ID
	cl := kafkatest.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range expired + 1 {
		ev := &auditv1.Event{
			Id: fmt.Sprintf("%s-expired-%d", p.events, i), ProjectId: "P-obs", Action: "UserCreated",
			Type: "info", Tenants: []string{"T1"}, Occurred: timestamppb.Now(),
		}
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		r.Topic, r.Partition = topic, 0
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	commit, cut := kadm.Offsets{}, kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	cut.Add(kadm.Offset{Topic: topic, Partition: 0, At: expired, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "auditstream-sink-"+p.s3ID, commit); err != nil {
		t.Fatalf("commit offset 0 for the S3 sink: %v", err)
	}
	resp, err := adm.DeleteRecords(ctx, cut)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("delete records of %s below %d: %v", topic, expired, err)
	}
}

// publish writes the test's records and returns how many events of the
// events topic every connector should receive: good events, one of them
// (the poison) refused by the intake, and one in JSON with a field the
// schema does not know; a record that does not decode (a router dead
// letter); and, straight into the S3 connector's topic, an event of a tenant
// its filter excludes (a filter_mismatch).
func (p *obsPipeline) publish(t *testing.T) (good int) {
	t.Helper()
	const n = 20
	newEvent := func(i int, tenant string) *auditv1.Event {
		return &auditv1.Event{
			Id: fmt.Sprintf("%s-%03d", p.events, i), ProjectId: "P-obs", Action: "UserCreated",
			Type: "info", Tenants: []string{tenant}, Occurred: timestamppb.Now(),
		}
	}
	var recs []*kgo.Record
	for i := range n {
		ev := newEvent(i, "T1")
		if i == n/2 {
			p.poison = ev.GetId()
		}
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if _, err := p.intake.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: p.poison}); err != nil {
		t.Fatal(err)
	}

	unknown, err := record.Marshal(newEvent(n, "T1"), record.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(unknown.Value, []byte("{")) {
		t.Fatalf("a JSON value that is not an object: %s", unknown.Value)
	}
	unknown.Value = append([]byte(`{"fieldFromTheFuture":1,`), unknown.Value[1:]...)
	recs = append(recs, unknown)

	recs = append(recs, &kgo.Record{
		Value:   []byte("\xff\xfe this is not an audit event"),
		Headers: []kgo.RecordHeader{{Key: record.HeaderContentType, Value: []byte(record.ContentTypeProtobuf)}},
	})

	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(p.events))
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("publish: %v", err)
	}

	stray, err := record.Marshal(newEvent(n+1, "T-other"), record.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	stray.Topic = p.prefix + p.s3ID
	if err := cl.ProduceSync(context.Background(), stray).FirstErr(); err != nil {
		t.Fatalf("publish past the router: %v", err)
	}
	return n + 1
}

// service is a running router or sink.
type service struct {
	name string
	cmd  *exec.Cmd

	log proctest.Log
}

func (s *service) logText() string { return s.log.String() }

// startService runs a binary until the end of the test (SIGTERM, then
// SIGKILL after 20 s).
func startService(t *testing.T, bin string, args ...string) *service {
	t.Helper()
	s := &service{name: filepath.Base(bin) + " " + strings.Join(args, " ")}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", s.name, proctest.Tail(s.logText(), 30))
		}
	})
	return s
}

var adminAddr = regexp.MustCompile(`admin endpoints.*addr=(\S+)`)

// scrape reads the service's /metrics, once it has logged its admin
// address.
func (s *service) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	var addr string
	for deadline := time.Now().Add(60 * time.Second); ; {
		if m := adminAddr.FindStringSubmatch(s.logText()); m != nil {
			addr = m[1]
			break
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("%s logged no admin address:\n%s", s.name, proctest.Tail(s.logText(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("%s: GET /metrics: %v", s.name, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s: parse /metrics: %v", s.name, err)
	}
	return fams
}

// addServed adds the series names that Prometheus stores for these
// families: a histogram's _bucket (with le), _sum and _count; a summary's
// own name (with quantile), _sum and _count.
func addServed(srv served, fams map[string]*dto.MetricFamily) {
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		if srv[name] == nil {
			srv[name] = map[string]bool{}
		}
		for _, l := range labels {
			srv[name][l.GetName()] = true
		}
		for _, l := range extra {
			srv[name][l] = true
		}
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", m.GetLabel(), "le")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			case dto.MetricType_SUMMARY:
				add(name, m.GetLabel(), "quantile")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			default:
				add(name, m.GetLabel())
			}
		}
	}
}

// sum is the sum of a counter's or a gauge's samples; 0 for a family that
// is absent.
func sum(f *dto.MetricFamily) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return v
}

func countNames(qs []query) int {
	names := map[string]bool{}
	for _, q := range qs {
		if expr, err := parser.ParseExpr(q.expr); err == nil {
			for n := range selectors(expr) {
				names[n] = true
			}
		}
	}
	return len(names)
}
