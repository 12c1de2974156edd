//go:build integration

package main

// The harness the sink's end-to-end tests share: the sink binary built once,
// run as a subprocess against the real Kafka (and MinIO or the Datadog intake
// test server), with helpers to publish, wait for commits and read back.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

var sinkBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sink-test")
	if err != nil {
		panic(err)
	}
	sinkBin = filepath.Join(dir, "sink")
	if err := proctest.Build(".", ".", sinkBin); err != nil {
		fmt.Fprintf(os.Stderr, "build sink: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// connectorTopic creates a fresh connector topic for connector id and
// returns the topic prefix (base) the pipeline config names, the
// connector_prefix, and the topic itself.
func connectorTopic(t *testing.T, id string, partitions int32) (base, prefix, topic string) {
	t.Helper()
	base = kafkatest.Topic(t, 1)
	prefix = base + ".c."
	topic = prefix + id
	adm := kadm.NewClient(kafkatest.Client(t))
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	return base, prefix, topic
}

// writeConfig writes a pipeline file and returns its path.
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

func newBucket(t *testing.T) *s3Store {
	t.Helper()
	st := &s3Store{
		endpoint: proctest.Env(t, "AUDITSTREAM_S3_ENDPOINT"),
		akFile:   proctest.Env(t, "AUDITSTREAM_S3_ACCESS_KEY_FILE"),
		skFile:   proctest.Env(t, "AUDITSTREAM_S3_SECRET_KEY_FILE"),
		bucket:   fmt.Sprintf("e2e-%d", time.Now().UnixNano()),
	}
	st.open(t)
	return st
}

// open makes the client and creates the bucket.
func (st *s3Store) open(t *testing.T) {
	t.Helper()
	st.client = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(st.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(proctest.ReadFile(t, st.akFile), proctest.ReadFile(t, st.skFile), ""),
		// A test may stop MinIO; keep retrying long enough to read back
		// after it restarts.
		RetryMaxAttempts: 10,
	})
	if _, err := st.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", st.bucket, err)
	}
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

// s3Event is one event read back from an object.
type s3Event struct {
	Key   string
	Event *auditv1.Event
	Raw   []byte
}

// readAll reads every event of every data object under prefix.
func (st *s3Store) readAll(t *testing.T, prefix string) (events []s3Event, objects int) {
	t.Helper()
	ctx := context.Background()
	var token *string
	for {
		page, err := st.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(prefix + "/"), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasSuffix(key, ".ndjson.gz") {
				continue
			}
			objects++
			obj, err := st.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(obj.Body)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(make([]byte, 1<<20), 4<<20)
			for sc.Scan() {
				ev := &auditv1.Event{}
				if err := protojson.Unmarshal(sc.Bytes(), ev); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				events = append(events, s3Event{Key: key, Event: ev, Raw: bytes.Clone(sc.Bytes())})
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			obj.Body.Close()
		}
		if page.NextContinuationToken == nil {
			break
		}
		token = page.NextContinuationToken
	}
	return events, objects
}

// assertExactlyOnce reads the bucket back and fails unless every wanted id
// is in exactly one object, under its project and UTC hour.
func (st *s3Store) assertExactlyOnce(t *testing.T, prefix string, want map[string]bool) (objects int) {
	t.Helper()
	events, objects := st.readAll(t, prefix)
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Event.GetId()]++
		dir := "/" + e.Event.GetProjectId() + "/" + e.Event.GetOccurred().AsTime().UTC().Format("2006/01/02/15") + "/"
		if !strings.Contains(e.Key, dir) {
			t.Fatalf("event %s is in %s, not under %s", e.Event.GetId(), e.Key, dir)
		}
	}
	missing, dup, extra := kafkatest.Tally(want, seen)
	if missing+dup+extra > 0 {
		t.Fatalf("%d events in %d objects: %d missing, %d duplicated, %d unexpected", len(seen), objects, missing, dup, extra)
	}
	return objects
}

// verifyS3 runs `sink verify` and fails unless it reports wantEvents events
// and no problem.
func verifyS3(t *testing.T, cfg, connector string, wantEvents int) {
	t.Helper()
	out, err := exec.Command(sinkBin, "verify", "--json", "--config", cfg, "--connector", connector).Output()
	if err != nil {
		t.Fatalf("sink verify: %v\n%s", err, out)
	}
	var rep struct {
		Events   int `json:"events"`
		Problems int `json:"problems"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Problems != 0 || rep.Events != wantEvents {
		t.Fatalf("verify: %d events, %d problems (%v); want %d and 0:\n%s", rep.Events, rep.Problems, err, wantEvents, out)
	}
}

// sinkProc is one running sink binary.
type sinkProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	name string

	mu     sync.Mutex
	log    bytes.Buffer
	admin  string // admin endpoint address, once logged
	exited chan struct{}
	err    error
}

var adminAddr = regexp.MustCompile(`msg="admin endpoints" .*addr=(\S+)`)

// startSink runs `sink run` for connector with extra environment entries.
// The process is killed at the end of the test.
func startSink(t *testing.T, cfg, connector string, extraEnv ...string) *sinkProc {
	t.Helper()
	p := &sinkProc{t: t, name: connector, exited: make(chan struct{})}
	p.cmd = exec.Command(sinkBin, "run", "--config", cfg, "--connector", connector)
	p.cmd.Env = append(os.Environ(), extraEnv...)
	p.cmd.Stderr = (*procLog)(p)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("sink pid %d log tail:\n%s", p.cmd.Process.Pid, proctest.Tail(p.Log(), 40))
		}
	})
	return p
}

// procLog collects a sink's stderr and notes its admin address.
type procLog sinkProc

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.Write(b)
	if l.admin == "" {
		if m := adminAddr.FindSubmatch(l.log.Bytes()); m != nil {
			l.admin = string(m[1])
		}
	}
	return len(b), nil
}

func (p *sinkProc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Kill sends SIGKILL and waits for the process to go.
func (p *sinkProc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits up to timeout for a clean exit.
func (p *sinkProc) Stop(timeout time.Duration) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("sink exited after SIGTERM with %v:\n%s", p.err, proctest.Tail(p.Log(), 30))
		}
	case <-time.After(timeout):
		p.t.Fatalf("sink did not exit within %s of SIGTERM:\n%s", timeout, proctest.Tail(p.Log(), 30))
	}
}

// Wait waits up to timeout for the process to exit and returns its exit code.
func (p *sinkProc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("sink still running after %s:\n%s", timeout, proctest.Tail(p.Log(), 30))
	}
	return p.cmd.ProcessState.ExitCode()
}

// RSS is the process's current resident set size in bytes.
func (p *sinkProc) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// adminURL waits until the sink has logged its admin address.
func (p *sinkProc) adminURL(path string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		a := p.admin
		p.mu.Unlock()
		if a != "" {
			return "http://" + a + path
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the sink logged no admin address:\n%s", proctest.Tail(p.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ready asks /readyz.
func (p *sinkProc) Ready() bool {
	resp, err := http.Get(p.adminURL("/readyz"))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Metric returns the sum of the samples of a metric family whose labels
// contain every given label="value" pair.
func (p *sinkProc) Metric(name string, labels ...string) float64 {
	p.t.Helper()
	resp, err := http.Get(p.adminURL("/metrics"))
	if err != nil {
		p.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// publisher writes loadgen events to a topic and remembers their ids.
type publisher struct {
	t     *testing.T
	cl    *kgo.Client
	gen   *loadgen.Generator
	mu    sync.Mutex
	want  map[string]bool
	bytes int // of record values published
}

func newPublisher(t *testing.T, topic string, seed uint64) *publisher {
	return &publisher{
		t:    t,
		cl:   kafkatest.Client(t, kgo.DefaultProduceTopic(topic)),
		gen:  loadgen.New(loadgen.Config{Seed: seed}),
		want: map[string]bool{},
	}
}

// publish writes n events, each passed through edit first when it is set.
func (pb *publisher) publish(n int, edit func(*auditv1.Event)) {
	pb.t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for range n {
		ev := pb.gen.Next()
		if edit != nil {
			edit(ev)
		}
		r, err := record.Marshal(ev, record.Protobuf)
		if err != nil {
			pb.t.Fatal(err)
		}
		pb.mu.Lock()
		pb.want[ev.GetId()] = true
		pb.bytes += len(r.Value)
		pb.mu.Unlock()
		recs = append(recs, r)
	}
	if err := pb.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		pb.t.Fatal(err)
	}
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
// topic to its end.
func waitCommitted(t *testing.T, group, topic string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(kafkatest.Client(t))
	deadline := time.Now().Add(timeout)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		got := committed(t, adm, group, topic)
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if got[o.Partition] < o.Offset {
				done = false
			}
		})
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group %s did not commit every partition of %s to its end within %s (committed %v)", group, topic, timeout, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// privateMinIO starts a MinIO of the test's own (stack/minio.sh with its own
// STACK_DIR, on a free port), so that a test can stop and start it without
// disturbing the shared stack, or give it its own settings (env, such as
// MINIO_KMS_SECRET_KEY). It is stopped at the end of the test.
func privateMinIO(t *testing.T, env ...string) (st *s3Store, stop, start func()) {
	t.Helper()
	dir := t.TempDir()
	run := func(cmd string) string {
		t.Helper()
		c := exec.Command("bash", filepath.Join("..", "..", "..", "stack", "minio.sh"), cmd)
		c.Env = append(append(os.Environ(), "STACK_DIR="+dir), env...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("stack/minio.sh %s: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("start")
	t.Cleanup(func() { run("stop") })
	st = &s3Store{
		endpoint: run("addr"),
		akFile:   filepath.Join(dir, "minio", "access_key"),
		skFile:   filepath.Join(dir, "minio", "secret_key"),
		bucket:   "private",
	}
	st.open(t)
	return st, func() { run("stop") }, func() { run("start") }
}

// eventually polls cond every 100 ms until it holds, or fails with what after
// timeout.
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

// groupMembers is the number of members of a consumer group in the Stable
// state, or -1 while it is rebalancing or unknown.
func groupMembers(t *testing.T, adm *kadm.Client, group string) int {
	t.Helper()
	gs, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		return -1
	}
	g, ok := gs[group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return -1
	}
	return len(g.Members)
}
