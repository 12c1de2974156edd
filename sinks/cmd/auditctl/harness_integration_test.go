//go:build integration

package main

// The harness of auditctl's end-to-end tests: auditctl runs in process
// (run), the sinks as subprocesses of the sink binary built once, against
// the real Kafka, MinIO and the Datadog intake test server. It follows
// sinks/cmd/sink's harness, trimmed to what these tests use.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/ddintake"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

var sinkBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "auditctl-test")
	if err != nil {
		panic(err)
	}
	sinkBin = filepath.Join(dir, "sink")
	if err := proctest.Build(".", "../sink", sinkBin, "goccy_gojson"); err != nil {
		fmt.Fprintf(os.Stderr, "build sink: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ctl runs auditctl in process with args (stdin not a terminal) and
// returns its exit code, stdout and stderr.
func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return ctlCtx(context.Background(), t, args...)
}

func ctlCtx(ctx context.Context, t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// topics are one test's topics: a base name, the connector prefix, the
// dead-letter and events topics.
type topics struct {
	base, prefix, dlq, events string
	adm                       *kadm.Client
}

func newTopics(t *testing.T) *topics {
	t.Helper()
	base := kafkatest.Topic(t, 1)
	tp := &topics{base: base, prefix: base + ".c.", dlq: base + ".dlq", events: base + ".events", adm: kadm.NewClient(kafkatest.Client(t))}
	tp.create(t, tp.dlq, 1)
	tp.create(t, tp.events, 2)
	return tp
}

func (tp *topics) create(t *testing.T, topic string, partitions int32) {
	t.Helper()
	resp, err := tp.adm.CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	t.Cleanup(func() { _, _ = tp.adm.DeleteTopics(context.Background(), topic) })
}

// connector creates the topic of connector id and returns it.
func (tp *topics) connector(t *testing.T, id string, partitions int32) string {
	topic := tp.prefix + id
	tp.create(t, topic, partitions)
	return topic
}

// header is the pipeline file's kafka and topics blocks; router listen
// points where nothing answers unless given.
func (tp *topics) header(t *testing.T, routerListen string) string {
	return fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {events: {name: %s, partitions: 2}, dlq: {name: %s, partitions: 1}, connector_prefix: %s}
router: {listen: "%s"}
connectors:
`, strings.Join(kafkatest.Brokers(t), ","), tp.events, tp.dlq, tp.prefix, routerListen)
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// s3Store is a fresh MinIO bucket and a client for it.
type s3Store struct {
	client           *s3.Client
	bucket, endpoint string
	akFile, skFile   string
}

// newBucket creates a bucket, with Object Lock when lock is set.
func newBucket(t *testing.T, lock bool) *s3Store {
	t.Helper()
	st := &s3Store{
		endpoint: proctest.Env(t, "AUDITSTREAM_S3_ENDPOINT"),
		akFile:   proctest.Env(t, "AUDITSTREAM_S3_ACCESS_KEY_FILE"),
		skFile:   proctest.Env(t, "AUDITSTREAM_S3_SECRET_KEY_FILE"),
		bucket:   fmt.Sprintf("ctl-%d", time.Now().UnixNano()),
	}
	st.client = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(st.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(proctest.ReadFile(t, st.akFile), proctest.ReadFile(t, st.skFile), ""),
	})
	in := &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}
	if lock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := st.client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("create bucket %s: %v", st.bucket, err)
	}
	return st
}

// connectorYAML is an s3 connector's settings block for this bucket.
func (st *s3Store) connectorYAML(prefix string) string {
	return fmt.Sprintf(`    s3:
      bucket: %s
      prefix: %s
      endpoint: %s
      path_style: true
      credentials: {source: static, access_key_id: {file: %s}, secret_access_key: {file: %s}}
`, st.bucket, prefix, st.endpoint, st.akFile, st.skFile)
}

// keys lists the bucket's keys under prefix.
func (st *s3Store) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(st.client, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

func (st *s3Store) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := st.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(out.Body)
	return b.Bytes()
}

func (st *s3Store) delete(t *testing.T, key string) {
	t.Helper()
	if _, err := st.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// sinkProc is one running sink binary.
type sinkProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    proctest.Log
	exited chan struct{}
}

// startSink runs `sink run` for connector; it is killed at the end of the test.
func startSink(t *testing.T, cfg, connector string) *sinkProc {
	t.Helper()
	p := &sinkProc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(sinkBin, "run", "--config", cfg, "--connector", connector)
	p.cmd.Stderr = &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("sink %s log tail:\n%s", connector, proctest.Tail(p.Log(), 30))
		}
	})
	return p
}

func (p *sinkProc) Log() string { return p.log.String() }

// Stop sends SIGTERM and waits for the sink to leave.
func (p *sinkProc) Stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("sink did not exit within 60s of SIGTERM:\n%s", proctest.Tail(p.Log(), 30))
	}
}

// publisher writes loadgen events to a topic and remembers their ids.
type publisher struct {
	t    *testing.T
	cl   *kgo.Client
	gen  *loadgen.Generator
	want map[string]bool
}

// newPublisher publishes to topic; transactional makes every publish one
// Kafka transaction, as the router writes connector topics.
func newPublisher(t *testing.T, topic string, seed uint64, transactional bool) *publisher {
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic)}
	if transactional {
		opts = append(opts, kgo.TransactionalID(fmt.Sprintf("ctl-test-%d", time.Now().UnixNano())))
	}
	return &publisher{t: t, cl: kafkatest.Client(t, opts...), gen: loadgen.New(loadgen.Config{Seed: seed}), want: map[string]bool{}}
}

// publish writes n events and returns their ids in order.
func (pb *publisher) publish(n int) []string {
	pb.t.Helper()
	recs := make([]*kgo.Record, 0, n)
	ids := make([]string, 0, n)
	for range n {
		ev := pb.gen.Next()
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			pb.t.Fatal(err)
		}
		pb.want[ev.GetId()] = true
		ids = append(ids, ev.GetId())
		recs = append(recs, r)
	}
	ctx := context.Background()
	txn := pb.cl.OptValue(kgo.TransactionalID) != ""
	if txn {
		if err := pb.cl.BeginTransaction(); err != nil {
			pb.t.Fatal(err)
		}
	}
	if err := pb.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		pb.t.Fatal(err)
	}
	if txn {
		if err := pb.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			pb.t.Fatal(err)
		}
	}
	return ids
}

// committed returns the group's committed offset per partition of topic.
func committed(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	got, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	got.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// waitCommitted waits until the group has committed every partition of
// topic through its last record: to the end, or to one short of it when
// the end is a transaction marker (transactional says so).
func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, transactional bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	slack := int64(0)
	if transactional {
		slack = 1
	}
	for {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		got := committed(t, adm, group, topic)
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && got[o.Partition] < o.Offset-slack {
				done = false
			}
		})
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not commit %s to its end within %s (committed %v)", group, topic, timeout, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ddKey is the API key the test intakes accept. It is not a real key.
const ddKey = "ctl-dd-api-key-accepted-0123456789"

// intake is the Datadog intake test server on 127.0.0.1.
type intake struct {
	*ddintake.Server
	url string
}

func startIntake(t *testing.T) *intake {
	t.Helper()
	in := &intake{Server: ddintake.New(ddintake.Options{APIKeys: []string{ddKey}})}
	ts := httptest.NewServer(http.HandlerFunc(in.Server.ServeHTTP))
	t.Cleanup(ts.Close)
	in.url = ts.URL
	return in
}

// delivered counts the accepted logs per event id (logs that are not
// events, such as a connector test's, are counted under "").
func (in *intake) delivered() map[string]int {
	got := map[string]int{}
	for _, l := range in.Logs() {
		ev := &auditv1.Event{}
		if protojson.Unmarshal([]byte(l.Message), ev) != nil {
			got[""]++
			continue
		}
		got[ev.GetId()]++
	}
	return got
}

// ddYAML is a datadog connector block delivering to in, with its key in a file.
func ddYAML(t *testing.T, in *intake, key string) string {
	keyFile := filepath.Join(t.TempDir(), "dd-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`    datadog:
      url: %s
      api_key: {file: %s}
      ddsource: ctl
      service: ctl
      hostname: ctl-host
      tags: [env:ctl]
`, in.url, keyFile)
}

// jsonOut decodes a command's JSON output.
func jsonOut(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
}
