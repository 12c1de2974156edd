//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// s3Pipeline is a pipeline file with one s3 connector, id, writing to st
// under the prefix e2e; batch is the connector's batch settings. Each test
// uses its own connector id, so that each has its own consumer group.
func s3Pipeline(t *testing.T, st *s3Store, id, base, prefix, batch string) string {
	return fmt.Sprintf(`kafka: {brokers: [%s]}
topics: {dlq: {name: %s.dlq, partitions: 1}, connector_prefix: %s}
connectors:
  - id: %s
    type: s3
    listen: 127.0.0.1:0
    batch: %s
%s`, strings.Join(kafkatest.Brokers(t), ","), base, prefix, id, batch, st.connectorYAML("e2e"))
}

// TestS3SinkKilledMidBatch: 50,000 events through the sink binary into
// MinIO while the sink is killed with SIGKILL three times mid-stream.
// Every event id lands in exactly one object, and verify finds the hash
// chain and the manifests intact.
func TestS3SinkKilledMidBatch(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "arch", 3)
	st := newBucket(t)
	cfg := writeConfig(t, s3Pipeline(t, st, "arch", base, prefix, "{max_events: 2000, max_bytes: 4MiB, max_age: 1s}"))

	pub := newPublisher(t, topic, 11)
	sink := startSink(t, cfg, "arch")
	for kill := 1; kill <= 3; kill++ {
		pub.publish(12_500, nil)
		time.Sleep(time.Duration(1500+kill*400) * time.Millisecond)
		sink.Kill()
		t.Logf("SIGKILL %d", kill)
		sink = startSink(t, cfg, "arch")
	}
	pub.publish(12_500, nil)

	waitCommitted(t, "auditstream-sink-arch", topic, 120*time.Second)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects after 3 SIGKILLs", len(pub.want), objects)
	verifyS3(t, cfg, "arch", len(pub.want))
}

// TestS3SinkMinIOOutage: MinIO stops for 20 s while a 150,000-event backlog
// arrives. The sink turns unready, commits nothing, stops fetching instead
// of buffering the backlog (backpressure), and keeps its memory bounded;
// once MinIO is back, every event lands exactly once.
func TestS3SinkMinIOOutage(t *testing.T) {
	const id, group = "outage", "auditstream-sink-outage"
	base, prefix, topic := connectorTopic(t, id, 3)
	st, stopMinIO, startMinIO := privateMinIO(t)
	cfg := writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 2000, max_bytes: 1MiB, max_age: 1s}"))
	adm := kadm.NewClient(kafkatest.Client(t))

	pub := newPublisher(t, topic, 21)
	sink := startSink(t, cfg, id)
	pub.publish(10_000, nil)
	waitCommitted(t, group, topic, 60*time.Second)
	readBefore := sink.Metric("auditstream_sink_records_total")

	// Sample the sink's RSS through the outage and the recovery.
	var peak atomic.Int64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if rss := sink.RSS(); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	stopMinIO()
	down := time.Now()
	atStop := committed(t, adm, group, topic)
	for range 10 {
		pub.publish(15_000, nil)
	}
	eventually(t, 15*time.Second, "the sink to turn unready during the outage", func() bool { return !sink.Ready() })
	eventually(t, 15*time.Second, "backpressure (paused partitions)", func() bool {
		return sink.Metric("auditstream_sink_paused_partitions") > 0
	})
	time.Sleep(time.Until(down.Add(20 * time.Second)))
	if got := committed(t, adm, group, topic); !maps.Equal(got, atStop) {
		t.Fatalf("offsets were committed while MinIO was down: %v, then %v", atStop, got)
	}
	// What a sink holds per partition is bounded by its batch's max_bytes:
	// two batches in the batcher and one in the queue, plus what the
	// client has fetched (4 × max_bytes in all) and one poll's overshoot.
	// Over 3 partitions with max_bytes 1 MiB, that is about 16 MiB.
	read := sink.Metric("auditstream_sink_records_total") - readBefore
	limit := float64(16<<20) / (float64(pub.bytes) / float64(len(pub.want)))
	if read > limit {
		t.Fatalf("the sink read %.0f of the 150,000 records that arrived during the outage; want at most %.0f (16 MiB): it should stop fetching, not buffer", read, limit)
	}
	t.Logf("during the 20 s outage the sink read %.0f of 150,000 new records (limit %.0f) and committed nothing", read, limit)

	startMinIO()
	waitCommitted(t, group, topic, 120*time.Second)
	eventually(t, 15*time.Second, "readiness after the outage", sink.Ready)
	close(sampling)
	<-sampled
	const bound = 256 << 20
	if p := peak.Load(); p == 0 || p > bound {
		t.Fatalf("peak RSS %d MiB (0 means unreadable); want at most %d MiB", p>>20, bound>>20)
	}
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects; peak RSS %d MiB", len(pub.want), objects, peak.Load()>>20)
	verifyS3(t, cfg, id, len(pub.want))
}

// TestS3SinkStartsDuringMinIOOutage: a sink started while its store is
// down waits for it, not ready and consuming nothing, instead of exiting 2
// as for a bad configuration (the short chaos run met it: S3 sinks restarted
// during the MinIO outage exited 2 in a loop). Once MinIO is back it
// delivers every event exactly once.
func TestS3SinkStartsDuringMinIOOutage(t *testing.T) {
	const id, group = "startdown", "auditstream-sink-startdown"
	base, prefix, topic := connectorTopic(t, id, 2)
	st, stopMinIO, startMinIO := privateMinIO(t)
	cfg := writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 500, max_bytes: 1MiB, max_age: 1s}"))
	adm := kadm.NewClient(kafkatest.Client(t))
	pub := newPublisher(t, topic, 33)
	pub.publish(2_000, nil)

	stopMinIO()
	sink := startSink(t, cfg, id)
	eventually(t, 30*time.Second, "the sink to log that it waits for the destination", func() bool {
		return strings.Contains(sink.Log(), "waiting for it before consuming")
	})
	select {
	case <-sink.exited:
		t.Fatalf("the sink exited (%v) while MinIO was down:\n%s", sink.cmd.ProcessState, proctest.Tail(sink.Log(), 20))
	case <-time.After(5 * time.Second):
	}
	if sink.Ready() {
		t.Fatal("/readyz is 200 while the destination cannot be reached")
	}
	if got := committed(t, adm, group, topic); len(got) != 0 {
		t.Fatalf("offsets committed before the destination was checked: %v", got)
	}

	startMinIO()
	waitCommitted(t, group, topic, 120*time.Second)
	eventually(t, 15*time.Second, "readiness once MinIO is back", sink.Ready)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects", len(pub.want), objects)
}

// TestS3SinkScaleOutAndIn: the sink is scaled from one replica to three,
// then down to two (one leaves with SIGTERM), while events keep arriving.
// The rebalances move partitions between writers; every event id still
// lands in exactly one object.
func TestS3SinkScaleOutAndIn(t *testing.T) {
	const id, group = "scale", "auditstream-sink-scale"
	base, prefix, topic := connectorTopic(t, id, 6)
	st := newBucket(t)
	cfg := writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 1000, max_bytes: 4MiB, max_age: 1s}"))
	adm := kadm.NewClient(kafkatest.Client(t))
	pub := newPublisher(t, topic, 31)

	first := startSink(t, cfg, id)
	pub.publish(10_000, nil)
	eventually(t, 30*time.Second, "one member", func() bool { return groupMembers(t, adm, group) == 1 })

	second, third := startSink(t, cfg, id), startSink(t, cfg, id)
	for range 4 {
		pub.publish(5_000, nil)
		time.Sleep(500 * time.Millisecond)
	}
	eventually(t, 40*time.Second, "three members", func() bool { return groupMembers(t, adm, group) == 3 })
	pub.publish(10_000, nil)

	// Scale in: the first replica leaves cleanly mid-stream.
	pub.publish(5_000, nil)
	first.Stop(40 * time.Second)
	for range 4 {
		pub.publish(5_000, nil)
		time.Sleep(500 * time.Millisecond)
	}
	eventually(t, 40*time.Second, "two members", func() bool { return groupMembers(t, adm, group) == 2 })

	waitCommitted(t, group, topic, 120*time.Second)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	delivered := second.Metric("auditstream_sink_delivered_total") + third.Metric("auditstream_sink_delivered_total")
	if delivered == 0 {
		t.Fatal("the replicas that joined delivered nothing: the rebalance did not spread the partitions")
	}
	t.Logf("all %d events exactly once in %d objects across 1→3→2 replicas (the two that stayed delivered %.0f)", len(pub.want), objects, delivered)
	verifyS3(t, cfg, id, len(pub.want))
}

// TestS3SinkZombieWriter: a sink freezes (SIGSTOP) with its PUT in flight,
// held by a proxy in front of MinIO. Its session expires, the other
// replica takes the partition over and writes the same batch from the same
// first offset. Then the zombie's PUT goes through: MinIO refuses it with
// 412 (If-None-Match), and the zombie wakes up (SIGCONT) to a world that
// moved on. One object per delivery, no loss, no duplicate.
func TestS3SinkZombieWriter(t *testing.T) {
	const id, group = "zombie", "auditstream-sink-zombie"
	base, prefix, topic := connectorTopic(t, id, 1)
	st := newBucket(t)
	proxy := newHoldingProxy(t, st.endpoint)
	batch := "{max_events: 100000, max_bytes: 64MiB, max_age: 1s}"
	direct := writeConfig(t, s3Pipeline(t, st, id, base, prefix, batch))
	viaProxy := *st
	viaProxy.endpoint = proxy.URL
	held := writeConfig(t, s3Pipeline(t, &viaProxy, id, base, prefix, batch))
	adm := kadm.NewClient(kafkatest.Client(t))
	pub := newPublisher(t, topic, 41)

	// The zombie-to-be owns the partition; the successor idles in the group.
	zombie := startSink(t, held, id)
	pub.publish(1_000, nil)
	waitCommitted(t, group, topic, 60*time.Second)
	successor := startSink(t, direct, id)
	eventually(t, 40*time.Second, "two members", func() bool { return groupMembers(t, adm, group) == 2 })

	// The zombie's next data PUT is held (it times out here if the
	// partition moved on the join: the assignment is sticky); then the
	// zombie freezes.
	proxy.hold()
	pub.publish(1_000, nil)
	req := proxy.waitHeld(30 * time.Second)
	if err := zombie.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zombie.cmd.Process.Signal(syscall.SIGCONT) })
	t.Logf("zombie frozen with PUT %s in flight", req)

	// The successor takes over after the session timeout and writes the
	// same delivery.
	waitCommitted(t, group, topic, 60*time.Second)
	if n := successor.Metric("auditstream_s3_objects_written_total"); n == 0 {
		t.Fatal("the successor committed without writing an object")
	}

	// The zombie's PUT arrives late and is refused.
	if status := proxy.release(); status != http.StatusPreconditionFailed {
		t.Fatalf("the zombie's late PUT of %s got %d; want 412 (the successor wrote that key first)", req, status)
	}
	if err := zombie.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	pub.publish(1_000, nil)
	waitCommitted(t, group, topic, 60*time.Second)
	objects := st.assertExactlyOnce(t, "e2e", pub.want)
	t.Logf("all %d events exactly once in %d objects; the zombie's PUT was refused with 412", len(pub.want), objects)
	verifyS3(t, direct, id, len(pub.want))
}

// TestS3SinkIdlePartitionFlushes: a single event on an otherwise idle
// topic is in S3 within max age + 2 s of its publication, every time.
func TestS3SinkIdlePartitionFlushes(t *testing.T) {
	const id, maxAge = "idle", 2 * time.Second
	base, prefix, topic := connectorTopic(t, id, 3)
	st := newBucket(t)
	cfg := writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 100000, max_bytes: 64MiB, max_age: 2s}"))
	pub := newPublisher(t, topic, 51)
	sink := startSink(t, cfg, id)
	eventually(t, 30*time.Second, "the sink to be ready", sink.Ready)

	for i := 1; i <= 3; i++ {
		pub.publish(1, nil)
		published := time.Now()
		eventually(t, 30*time.Second, fmt.Sprintf("event %d in S3", i), func() bool {
			events, _ := st.readAll(t, "e2e")
			return len(events) == i
		})
		took := time.Since(published)
		if took > maxAge+2*time.Second {
			t.Fatalf("event %d was in S3 %s after its publication; want at most max age (%s) + 2 s", i, took.Round(time.Millisecond), maxAge)
		}
		t.Logf("event %d visible after %s", i, took.Round(time.Millisecond))
		time.Sleep(3 * time.Second) // idle again
	}
	st.assertExactlyOnce(t, "e2e", pub.want)
}

// TestS3SinkRedaction: dropped, masked and hashed fields never reach S3;
// hashed values are the sha256 of the salt and the value.
func TestS3SinkRedaction(t *testing.T) {
	const id, group = "redact", "auditstream-sink-redact"
	base, prefix, topic := connectorTopic(t, id, 2)
	st := newBucket(t)
	pipeline := s3Pipeline(t, st, id, base, prefix, "{max_events: 1000, max_bytes: 4MiB, max_age: 1s}") +
		"    redact: {drop: [remoteAddress, data.sessionId], mask: [userId, data.userAgent], hash: [loginIds], salt: {env: E2E_REDACT_SALT}}\n"
	cfg := writeConfig(t, pipeline)
	const salt = "pepper-3141"
	pub := newPublisher(t, topic, 61)
	secrets := map[string]bool{}
	logins := map[string]string{} // event id → login
	n := 0
	pub.publish(2_000, func(ev *auditv1.Event) {
		n++
		ev.RemoteAddress = fmt.Sprintf("203.0.113.%d", n%250)
		ev.UserId = fmt.Sprintf("user-secret-%06d", n)
		ev.LoginIds = []string{fmt.Sprintf("person%06d@example.com", n)}
		ev.Data.Fields["sessionId"] = structpb.NewStringValue(fmt.Sprintf("session-secret-%06d", n))
		logins[ev.GetId()] = ev.LoginIds[0]
		for _, s := range []string{ev.UserId, ev.LoginIds[0], ev.Data.Fields["sessionId"].GetStringValue()} {
			secrets[s] = true
		}
	})
	startSink(t, cfg, id, "E2E_REDACT_SALT="+salt)
	waitCommitted(t, group, topic, 60*time.Second)

	events, _ := st.readAll(t, "e2e")
	if len(events) != len(pub.want) {
		t.Fatalf("%d events in S3; want %d", len(events), len(pub.want))
	}
	for _, e := range events {
		for s := range secrets {
			if bytes.Contains(e.Raw, []byte(s)) {
				t.Fatalf("%s reached S3 in %s:\n%s", s, e.Key, e.Raw)
			}
		}
		ev := e.Event
		if ev.GetRemoteAddress() != "" || ev.GetData().GetFields()["sessionId"] != nil {
			t.Fatalf("a dropped field reached S3: %s", e.Raw)
		}
		if ev.GetUserId() != "***" || ev.GetData().GetFields()["userAgent"].GetStringValue() != "***" {
			t.Fatalf("a masked field is not masked: %s", e.Raw)
		}
		sum := sha256.Sum256([]byte(salt + logins[ev.GetId()]))
		if want := hex.EncodeToString(sum[:]); len(ev.GetLoginIds()) != 1 || ev.GetLoginIds()[0] != want {
			t.Fatalf("loginIds is %q; want [sha256(salt+login)] = [%s]", ev.GetLoginIds(), want)
		}
	}
	t.Logf("all %d events redacted: dropped, masked and salted-hash fields as configured", len(events))
}

// TestS3SinkStartupCheck: wrong credentials, or a bucket that does not
// exist, stop the sink at start with exit code 2 and a clear reason, before
// it consumes anything: the group commits nothing.
func TestS3SinkStartupCheck(t *testing.T) {
	base, prefix, topic := connectorTopic(t, "check", 1)
	st := newBucket(t)
	adm := kadm.NewClient(kafkatest.Client(t))
	newPublisher(t, topic, 71).publish(100, nil)

	const wrongSecret = "not-the-secret-8d1f"
	wrong := filepath.Join(t.TempDir(), "secret_key")
	if err := os.WriteFile(wrong, []byte(wrongSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badCreds := *st
	badCreds.skFile = wrong
	noBucket := *st
	noBucket.bucket = st.bucket + "-missing"

	for _, c := range []struct {
		name  string
		store *s3Store
		want  string
	}{
		{"wrong credentials", &badCreds, "access denied"},
		{"missing bucket", &noBucket, "bucket " + noBucket.bucket + " does not exist"},
	} {
		cfg := writeConfig(t, s3Pipeline(t, c.store, "check", base, prefix, "{max_age: 1s}"))
		sink := startSink(t, cfg, "check")
		if code := sink.Wait(90 * time.Second); code != 2 {
			t.Fatalf("%s: exit code %d; want 2:\n%s", c.name, code, proctest.Tail(sink.Log(), 20))
		}
		log := sink.Log()
		if !strings.Contains(log, c.want) || !strings.Contains(log, "startup check failed") {
			t.Fatalf("%s: the log does not say %q:\n%s", c.name, c.want, log)
		}
		if strings.Contains(log, wrongSecret) {
			t.Fatalf("%s: the secret key is in the log", c.name)
		}
		if got := committed(t, adm, "auditstream-sink-check", topic); len(got) != 0 {
			t.Fatalf("%s: offsets committed: %v", c.name, got)
		}
		t.Logf("%s: exit 2: %s", c.name, proctest.Tail(log, 1))
	}
}

// holdingProxy stands between one sink and MinIO. When asked, it holds the
// next data-object PUT (reading its body first, so that the sender has
// sent it all), and forwards it only on release.
type holdingProxy struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	armed    bool
	held     chan string
	released chan struct{}
	once     sync.Once
	status   chan int
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	// The Host header passes through unchanged: the sink signed it.
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &holdingProxy{t: t, held: make(chan string, 1), released: make(chan struct{}), status: make(chan int, 1)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold := p.armed && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".ndjson.gz")
		if hold {
			p.armed = false
		}
		p.mu.Unlock()
		if !hold {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.held <- r.URL.Path
		<-p.released
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r)
		p.status <- rec.code
	}))
	t.Cleanup(func() { p.once.Do(func() { close(p.released) }); p.Close() })
	return p
}

func (p *holdingProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
}

func (p *holdingProxy) waitHeld(timeout time.Duration) string {
	p.t.Helper()
	select {
	case key := <-p.held:
		return key
	case <-time.After(timeout):
		p.t.Fatalf("no data PUT reached the proxy within %s", timeout)
		return ""
	}
}

// release forwards the held PUT and returns MinIO's status for it.
func (p *holdingProxy) release() int {
	p.t.Helper()
	p.once.Do(func() { close(p.released) })
	select {
	case code := <-p.status:
		return code
	case <-time.After(30 * time.Second):
		p.t.Fatal("the held PUT got no answer from MinIO within 30 s")
		return 0
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// TestS3SinkEncryptionAndStorageClass: objects written with sse-s3 and with
// sse-kms (MinIO's built-in KMS holds the key) are stored encrypted as
// configured, with the configured storage class, and verify reads them
// back.
func TestS3SinkEncryptionAndStorageClass(t *testing.T) {
	const keyID = "auditstream-e2e"
	st, _, _ := privateMinIO(t, "MINIO_KMS_SECRET_KEY="+keyID+":"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	for _, c := range []struct {
		id, settings string
		sse          types.ServerSideEncryption
		class        types.StorageClass
	}{
		{"ssesthree", "      encryption: {mode: sse-s3}\n", types.ServerSideEncryptionAes256, ""},
		{"ssekms", "      encryption: {mode: sse-kms, kms_key_id: " + keyID + "}\n      storage_class: REDUCED_REDUNDANCY\n",
			types.ServerSideEncryptionAwsKms, types.StorageClassReducedRedundancy},
	} {
		base, prefix, topic := connectorTopic(t, c.id, 1)
		pipeline := strings.Replace(s3Pipeline(t, st, c.id, base, prefix, "{max_events: 500, max_age: 1s}"), "prefix: e2e", "prefix: "+c.id, 1) + c.settings
		cfg := writeConfig(t, pipeline)
		pub := newPublisher(t, topic, 81)
		pub.publish(1_000, nil)
		startSink(t, cfg, c.id)
		waitCommitted(t, "auditstream-sink-"+c.id, topic, 60*time.Second)

		events, objects := st.readAll(t, c.id)
		if len(events) != len(pub.want) {
			t.Fatalf("%s: %d events in S3; want %d", c.id, len(events), len(pub.want))
		}
		keys := map[string]bool{}
		for _, e := range events {
			keys[e.Key] = true
		}
		for key := range keys {
			head, err := st.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if head.ServerSideEncryption != c.sse {
				t.Fatalf("%s: %s is stored with encryption %q; want %q", c.id, key, head.ServerSideEncryption, c.sse)
			}
			if c.sse == types.ServerSideEncryptionAwsKms && !strings.HasSuffix(aws.ToString(head.SSEKMSKeyId), keyID) {
				t.Fatalf("%s: %s is encrypted with key %q; want %s", c.id, key, aws.ToString(head.SSEKMSKeyId), keyID)
			}
			if head.StorageClass != c.class {
				t.Fatalf("%s: %s has storage class %q; want %q", c.id, key, head.StorageClass, c.class)
			}
		}
		verifyS3(t, cfg, c.id, len(pub.want))
		t.Logf("%s: %d events in %d objects, each stored %s %s", c.id, len(events), objects, c.sse, c.class)
	}
}

// TestS3SinkAssumeRole: the sink assumes a role through STS (MinIO's STS
// API, named by AWS_ENDPOINT_URL_STS) with the default chain's
// credentials, and writes with the temporary credentials it gets.
func TestS3SinkAssumeRole(t *testing.T) {
	const id, group = "role", "auditstream-sink-role"
	base, prefix, topic := connectorTopic(t, id, 1)
	st := newBucket(t)
	pipeline := strings.Replace(s3Pipeline(t, st, id, base, prefix, "{max_events: 500, max_age: 1s}"),
		fmt.Sprintf("credentials: {source: static, access_key_id: {file: %s}, secret_access_key: {file: %s}}", st.akFile, st.skFile),
		"credentials: {source: assume_role, role_arn: 'arn:aws:iam::123456789012:role/auditstream-writer', external_id: {env: E2E_EXTERNAL_ID}, session_name: auditstream-e2e}", 1)
	cfg := writeConfig(t, pipeline)
	pub := newPublisher(t, topic, 91)
	pub.publish(1_000, nil)
	env := []string{"AWS_ACCESS_KEY_ID=" + proctest.ReadFile(t, st.akFile), "AWS_SECRET_ACCESS_KEY=" + proctest.ReadFile(t, st.skFile),
		"AWS_REGION=us-east-1", "E2E_EXTERNAL_ID=ext-1234", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

	// With STS unreachable there are no credentials: the sink waits for
	// them, not ready, consuming nothing, which shows that the writes
	// below do go through STS.
	noSTS := startSink(t, cfg, id, append(env, "AWS_ENDPOINT_URL_STS=http://127.0.0.1:1")...)
	eventually(t, 60*time.Second, "the sink to wait for STS", func() bool {
		l := noSTS.Log()
		return strings.Contains(l, "waiting for it before consuming") && strings.Contains(l, "AssumeRole")
	})
	if noSTS.Ready() {
		t.Fatal("/readyz is 200 with STS unreachable")
	}
	if got := committed(t, kadm.NewClient(kafkatest.Client(t)), group, topic); len(got) != 0 {
		t.Fatalf("offsets committed with STS unreachable: %v", got)
	}
	noSTS.Kill()

	sink := startSink(t, cfg, id, append(env, "AWS_ENDPOINT_URL_STS="+st.endpoint)...)
	waitCommitted(t, group, topic, 60*time.Second)
	st.assertExactlyOnce(t, "e2e", pub.want)
	if strings.Contains(sink.Log(), proctest.ReadFile(t, st.skFile)) {
		t.Fatal("the secret key is in the log")
	}
}
