//go:build integration

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/stack/kafkatest"
)

// archive is a connector's archive written by the sink binary into MinIO,
// with its chain heads recorded in a heads topic of its own.
type archive struct {
	st                    *s3Store
	cfg, id, topic, heads string
	pub                   *publisher
	manifests             map[int32][]manifestJSON // per partition, in order
	partitions            int32
}

// manifestJSON is a manifest as the sink writes it.
type manifestJSON struct {
	Key       string `json:"-"`
	Connector string `json:"connector"`
	Partition int32  `json:"partition"`
	Start     int64  `json:"start"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
	Prev      string `json:"prev"`
	Head      string `json:"head"`
	Chain     string `json:"chain,omitempty"`
	Objects   []struct {
		Key     string `json:"key"`
		First   int64  `json:"first"`
		Last    int64  `json:"last"`
		Records int    `json:"records"`
		SHA256  string `json:"sha256"`
		Chain   string `json:"chain,omitempty"`
	} `json:"objects"`
}

// chainOf is the running chain value of an object whose sha256 is sha,
// after an object whose chain value is prev (see the s3sink package
// documentation): what an attacker who knows the definition computes.
func chainOf(prev, sha string) string {
	sum := sha256.Sum256([]byte(prev + sha))
	return hex.EncodeToString(sum[:])
}

// setMeta replaces an object's metadata in place (a metadata-only copy:
// its bytes stay).
func (a *archive) setMeta(t *testing.T, key string, meta map[string]string) {
	t.Helper()
	_, err := a.st.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key),
		CopySource: aws.String(a.st.bucket + "/" + key), Metadata: meta, MetadataDirective: types.MetadataDirectiveReplace})
	if err != nil {
		t.Fatal(err)
	}
}

// rewriteMiddle rewrites the first object of partition 0's second delivery
// (which has another object after it): one event edited, its sha256
// recomputed in its metadata and the manifest, and the next object's
// prev-sha256 changed to match by a metadata-only copy. With chain, the
// chain-sha256 of it and of every later object, and the manifests' chain
// values, are recomputed too. It returns the object's key.
func (a *archive) rewriteMiddle(t *testing.T, chain bool) string {
	t.Helper()
	ms := a.manifests[0]
	m := &ms[1]
	if len(m.Objects) < 2 {
		t.Fatalf("delivery %s has %d objects; want 2 or more", m.Key, len(m.Objects))
	}
	x := m.Objects[0].Key
	content := regzip(t, bytes.Replace(gunzip(t, a.get(t, x)), []byte(`"action":"`), []byte(`"action":"x`), 1))
	sum := sha256.Sum256(content)
	sha := hex.EncodeToString(sum[:])
	meta := a.head(t, x)
	meta["sha256"] = sha
	running := meta["chain-sha256"]
	if chain {
		running = chainOf(ms[0].Chain, sha)
		meta["chain-sha256"] = running
	}
	a.put(t, x, content, meta)
	m.Objects[0].SHA256, m.Objects[0].Chain = sha, running
	next := a.head(t, m.Objects[1].Key)
	next["prev-sha256"] = sha
	a.setMeta(t, m.Objects[1].Key, next)
	if chain {
		for i := 1; i < len(ms); i++ {
			for j := range ms[i].Objects {
				o := &ms[i].Objects[j]
				if i == 1 && j == 0 {
					continue
				}
				running = chainOf(running, o.SHA256)
				meta := a.head(t, o.Key)
				meta["chain-sha256"] = running
				a.setMeta(t, o.Key, meta)
				o.Chain = running
			}
			ms[i].Chain = running
			if i > 1 {
				a.putManifest(t, ms[i])
			}
		}
	}
	a.putManifest(t, *m)
	return x
}

// newArchive publishes events to a fresh connector topic, runs the sink
// until it has committed them all, stops it, and records each partition's
// head as the sink does (the writer records them; here the test does, so
// that verify's side is tested on its own).
func newArchive(t *testing.T, id string, partitions int32, events int, lock bool) *archive {
	t.Helper()
	base, prefix, topic := connectorTopic(t, id, partitions)
	var st *s3Store
	if lock {
		st = newLockBucket(t)
	} else {
		st = newBucket(t)
	}
	pipeline := s3Pipeline(t, st, id, base, prefix, "{max_events: 200, max_bytes: 4MiB, max_age: 1s}")
	if lock {
		pipeline += "      object_lock: {mode: compliance, days: 1}\n"
	}
	a := &archive{st: st, cfg: writeConfig(t, pipeline), id: id, topic: topic, partitions: partitions,
		heads: headsTopic(t), pub: newPublisher(t, topic, 101)}
	a.pub.publish(events, nil)
	sink := startSink(t, a.cfg, id)
	waitCommitted(t, "auditstream-sink-"+id, topic, 90*time.Second)
	sink.Stop(30 * time.Second)
	a.readManifests(t)
	a.recordHeads(t)
	return a
}

// headsTopic creates a compacted heads topic for the test.
func headsTopic(t *testing.T) string {
	t.Helper()
	name := kafkatest.Topic(t, 1) + ".heads"
	adm := kadm.NewClient(kafkatest.Client(t))
	cleanup := "compact"
	resp, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": &cleanup}, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), name) })
	return name
}

// newLockBucket is a bucket with Object Lock (and so versioning) enabled.
func newLockBucket(t *testing.T) *s3Store {
	t.Helper()
	st := newBucket(t) // for the client; its bucket stays empty
	st.bucket = fmt.Sprintf("lock-%d", time.Now().UnixNano())
	_, err := st.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(st.bucket), ObjectLockEnabledForBucket: aws.Bool(true)})
	if err != nil {
		t.Fatalf("create bucket %s: %v", st.bucket, err)
	}
	return st
}

// readManifests reads the archive's manifests, in order, per partition.
func (a *archive) readManifests(t *testing.T) {
	t.Helper()
	a.manifests = map[int32][]manifestJSON{}
	for _, key := range a.keys(t, "e2e/_manifests/") {
		var m manifestJSON
		if err := json.Unmarshal(a.get(t, key), &m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		m.Key = key
		a.manifests[m.Partition] = append(a.manifests[m.Partition], m)
	}
	for p := range a.partitions {
		ms := a.manifests[p]
		sort.Slice(ms, func(i, j int) bool { return ms[i].First < ms[j].First })
		if len(ms) < 3 {
			t.Fatalf("partition %d has %d deliveries; the damage cases need 3 or more", p, len(ms))
		}
	}
}

// recordHeads produces each partition's head, from its last manifest.
func (a *archive) recordHeads(t *testing.T) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t))
	md, err := adm.Metadata(context.Background(), a.topic)
	if err != nil {
		t.Fatal(err)
	}
	id := s3sink.Identity{TopicID: md.Topics[a.topic].ID.String(), ClusterID: md.Cluster}
	cl := kafkatest.Client(t, kgo.DefaultProduceTopic(a.heads))
	for p, ms := range a.manifests {
		last := ms[len(ms)-1]
		h := s3sink.Head{Connector: a.id, Partition: p, Identity: id, Last: last.Last, SHA256: last.Head, Chain: last.Chain, Manifest: last.Key}
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(s3sink.HeadKey(a.id, p)), Value: h.Encode()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func (a *archive) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(a.st.client, &s3.ListObjectsV2Input{Bucket: aws.String(a.st.bucket), Prefix: aws.String(prefix)})
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

func (a *archive) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := a.st.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (a *archive) head(t *testing.T, key string) map[string]string {
	t.Helper()
	out, err := a.st.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Metadata
}

func (a *archive) put(t *testing.T, key string, body []byte, meta map[string]string) {
	t.Helper()
	_, err := a.st.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (a *archive) del(t *testing.T, key string) {
	t.Helper()
	if _, err := a.st.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// putManifest writes m under the key its last offset gives it.
func (a *archive) putManifest(t *testing.T, m manifestJSON) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("e2e/_manifests/%s/%d/%020d.json", a.id, m.Partition, m.Last+1)
	a.put(t, key, append(b, '\n'), nil)
	return key
}

// verify runs `sink verify --json` and returns its exit code and report.
func (a *archive) verify(t *testing.T, args ...string) (int, *s3sink.Report) {
	t.Helper()
	code, out := a.verifyCode(t, args...)
	if code == 2 {
		t.Fatalf("sink verify could not check (exit 2):\n%s", out)
	}
	rep := new(s3sink.Report)
	if err := json.Unmarshal([]byte(out), rep); err != nil {
		t.Fatalf("verify report: %v\n%s", err, out)
	}
	return code, rep
}

// verifyCode runs `sink verify --json` and returns its exit code and its
// output (stdout, then stderr).
func (a *archive) verifyCode(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sinkBin, append([]string{"verify", "--json", "--config", a.cfg, "--connector", a.id, "--heads-topic", a.heads}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 && code != 1 {
		return code, string(out) + stderr.String()
	}
	return code, string(out)
}

// found is a problem as a test names it.
type found struct {
	partition int32
	kind, key string
}

func problemsOf(t *testing.T, r *s3sink.Report) []found {
	var got []found
	for _, p := range r.Partitions {
		for _, pr := range p.Problems {
			got = append(got, found{p.Partition, pr.Kind, pr.Key})
			t.Logf("partition %d: %s %s: %s", p.Partition, pr.Kind, pr.Key, pr.Detail)
		}
	}
	for _, pr := range r.BucketProblems {
		got = append(got, found{-1, pr.Kind, pr.Key})
		t.Logf("bucket: %s %s: %s", pr.Kind, pr.Key, pr.Detail)
	}
	return got
}

// wantProblems runs verify and checks that it exits 1 with exactly want.
func (a *archive) wantProblems(t *testing.T, want []found) {
	t.Helper()
	code, rep := a.verify(t)
	got := problemsOf(t, rep)
	order := func(x, y found) int {
		if x.partition != y.partition {
			return int(x.partition - y.partition)
		}
		if c := strings.Compare(x.kind, y.kind); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %v\nwant %v", got, want)
	}
	if code != 1 {
		t.Errorf("exit code %d; want 1", code)
	}
}

// TestVerifyDamage: each kind of damage is made in MinIO to an archive the
// sink wrote, and verify, reconciled with Kafka and the heads, names it
// precisely and exits 1.
func TestVerifyDamage(t *testing.T) {
	t.Run("untouched", func(t *testing.T) {
		a := newArchive(t, "vclean", 2, 3_000, false)
		code, rep := a.verify(t)
		if got := problemsOf(t, rep); len(got) != 0 || code != 0 {
			t.Fatalf("exit %d with problems %v; want 0 and none", code, got)
		}
		if rep.Events != int64(len(a.pub.want)) {
			t.Errorf("events: got %d, want %d", rep.Events, len(a.pub.want))
		}
		for _, p := range rep.Partitions {
			if p.Kafka == nil || p.Kafka.Data == 0 || p.Kafka.To != p.Kafka.HeadLast {
				t.Errorf("partition %d: not reconciled up to the head: %+v", p.Partition, p.Kafka)
			}
		}
		// One partition, and only the objects of one hour: fewer objects
		// read, the deliveries and Kafka still checked, still clean.
		hour := time.Now().UTC().Format("2006-01-02T15")
		code, one := a.verify(t, "--partition", "1", "--from", hour, "--to", hour)
		if got := problemsOf(t, one); len(got) != 0 || code != 0 {
			t.Fatalf("--partition 1 --from/--to %s: exit %d, problems %v; want 0 and none", hour, code, got)
		}
		if len(one.Partitions) != 1 || one.Partitions[0].Partition != 1 || one.Partitions[0].Kafka == nil || one.Objects > rep.Objects {
			t.Errorf("--partition 1: got %d partitions (%+v), %d of %d objects", len(one.Partitions), one.Partitions, one.Objects, rep.Objects)
		}
		code, none := a.verify(t, "--from", "2001-01-01T00", "--to", "2001-01-01T23")
		if got := problemsOf(t, none); len(got) != 0 || code != 0 || none.Objects != 0 || none.Manifests != rep.Manifests {
			t.Errorf("an hour with no objects: exit %d, problems %v, %d objects, %d manifests; want 0, none, 0, %d", code, got, none.Objects, none.Manifests, rep.Manifests)
		}
		if code, _ := a.verifyCode(t, "--from", "yesterday"); code != 2 {
			t.Errorf("a bad --from: exit %d; want 2", code)
		}
	})
	t.Run("partition deleted", func(t *testing.T) {
		a := newArchive(t, "vpart", 2, 3_000, false)
		for _, key := range a.keys(t, "e2e/") {
			if strings.Contains(key, "/vpart-1-") || strings.Contains(key, "/_manifests/vpart/1/") {
				a.del(t, key)
			}
		}
		a.wantProblems(t, []found{{1, s3sink.ProblemMissingPartition, ""}})
	})
	t.Run("manifest deleted", func(t *testing.T) {
		a := newArchive(t, "vmani", 1, 2_000, false)
		m := a.manifests[0][1]
		a.del(t, m.Key)
		a.wantProblems(t, []found{{0, s3sink.ProblemMissingManifest, m.Key}})
	})
	t.Run("last manifest deleted", func(t *testing.T) {
		a := newArchive(t, "vlast", 1, 2_000, false)
		ms := a.manifests[0]
		m := ms[len(ms)-1]
		a.del(t, m.Key)
		a.wantProblems(t, []found{{0, s3sink.ProblemMissingManifest, m.Key}})
	})
	t.Run("tail dropped and manifest rewritten", func(t *testing.T) {
		a := newArchive(t, "vtail", 1, 2_000, false)
		ms := a.manifests[0]
		// Drop the last delivery whole, and the last object of the one
		// before it; rewrite that delivery's manifest and its objects'
		// metadata to match: the bucket alone is consistent.
		for _, o := range ms[len(ms)-1].Objects {
			a.del(t, o.Key)
		}
		a.del(t, ms[len(ms)-1].Key)
		m := ms[len(ms)-2]
		if len(m.Objects) < 2 {
			t.Fatalf("delivery %s has %d objects; want 2 or more", m.Key, len(m.Objects))
		}
		dropped := m.Objects[len(m.Objects)-1]
		a.del(t, dropped.Key)
		a.del(t, m.Key)
		m.Objects = m.Objects[:len(m.Objects)-1]
		m.Last = 0
		for _, o := range m.Objects {
			m.Last = max(m.Last, o.Last)
		}
		m.Head, m.Chain = m.Objects[len(m.Objects)-1].SHA256, m.Objects[len(m.Objects)-1].Chain
		for _, o := range m.Objects {
			meta := a.head(t, o.Key)
			meta["batch-last"] = fmt.Sprint(m.Last)
			_, err := a.st.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(o.Key),
				CopySource: aws.String(a.st.bucket + "/" + o.Key), Metadata: meta, MetadataDirective: types.MetadataDirectiveReplace})
			if err != nil {
				t.Fatal(err)
			}
		}
		a.putManifest(t, m)
		// The bucket alone passes: only Kafka and the head tell.
		code, rep := a.verify(t, "--bucket-only")
		if got := problemsOf(t, rep); len(got) != 0 || code != 0 {
			t.Fatalf("bucket-only: exit %d, problems %v; want a consistent bucket (0, none)", code, got)
		}
		code, rep = a.verify(t)
		kinds := map[string]bool{}
		for _, f := range problemsOf(t, rep) {
			kinds[f.kind] = true
		}
		// The dropped object's records lie inside the rewritten delivery's
		// range (objects are split by project and hour), so its count is
		// short too.
		if code != 1 || !kinds[s3sink.ProblemTruncated] || len(kinds) > 2 || (len(kinds) == 2 && !kinds[s3sink.ProblemCount]) {
			t.Fatalf("exit %d, problem kinds %v; want 1 with truncated (and count)", code, kinds)
		}
	})
	t.Run("last object rewritten with its sha256", func(t *testing.T) {
		a := newArchive(t, "vhead", 1, 2_000, false)
		ms := a.manifests[0]
		m := ms[len(ms)-1]
		last := m.Objects[len(m.Objects)-1]
		// Same number of events, one of them edited; the sha256 recomputed
		// in the metadata and the manifest.
		content := regzip(t, bytes.Replace(gunzip(t, a.get(t, last.Key)), []byte(`"action":"`), []byte(`"action":"x`), 1))
		sum := sha256.Sum256(content)
		sha := hex.EncodeToString(sum[:])
		meta := a.head(t, last.Key)
		meta["sha256"] = sha
		// The chain value too, from the object before it: the bucket
		// alone stays consistent.
		prevChain := ms[len(ms)-2].Chain
		if n := len(m.Objects); n > 1 {
			prevChain = m.Objects[n-2].Chain
		}
		chain := chainOf(prevChain, sha)
		meta["chain-sha256"] = chain
		a.put(t, last.Key, content, meta)
		m.Objects[len(m.Objects)-1].SHA256, m.Head = sha, sha
		m.Objects[len(m.Objects)-1].Chain, m.Chain = chain, chain
		a.putManifest(t, m)
		code, rep := a.verify(t, "--bucket-only")
		if got := problemsOf(t, rep); len(got) != 0 || code != 0 {
			t.Fatalf("bucket-only: exit %d, problems %v; want a consistent bucket (0, none)", code, got)
		}
		a.wantProblems(t, []found{{0, s3sink.ProblemHeadMismatch, m.Key}})
	})
	t.Run("middle object rewritten with its sha256", func(t *testing.T) {
		// The head pins the last object's sha256, which a rewrite of a
		// middle object leaves as it was. The running chain value each
		// object carries (chain-sha256) names the object whose chain value
		// was not recomputed; when it is, with every later one, the head's
		// chain value tells (next case).
		a := newArchive(t, "vmid", 1, 2_000, false)
		x := a.rewriteMiddle(t, false)
		a.wantProblems(t, []found{{0, s3sink.ProblemChainMismatch, x}})
	})
	t.Run("middle object rewritten with the chain recomputed", func(t *testing.T) {
		a := newArchive(t, "vmidc", 1, 2_000, false)
		a.rewriteMiddle(t, true)
		code, rep := a.verify(t, "--bucket-only")
		if got := problemsOf(t, rep); len(got) != 0 || code != 0 {
			t.Fatalf("bucket-only: exit %d, problems %v; want a consistent bucket (0, none)", code, got)
		}
		ms := a.manifests[0]
		a.wantProblems(t, []found{{0, s3sink.ProblemHeadMismatch, ms[len(ms)-1].Key}})
	})
	t.Run("existing cases", func(t *testing.T) {
		a := newArchive(t, "vold", 3, 3_000, false)
		// Partition 0: a middle object deleted. Partition 1: a byte
		// edited. Partition 2: metadata stripped.
		m0 := a.manifests[0][1]
		if len(m0.Objects) < 2 {
			t.Fatalf("delivery %s has %d objects; want 2 or more", m0.Key, len(m0.Objects))
		}
		gone := m0.Objects[0].Key
		a.del(t, gone)
		next := m0.Objects[1].Key
		o1 := a.manifests[1][1].Objects[0].Key
		b := a.get(t, o1)
		b[len(b)/2] ^= 1
		a.put(t, o1, b, a.head(t, o1))
		o2 := a.manifests[2][1].Objects[0].Key
		a.put(t, o2, a.get(t, o2), nil)
		var after2 string // the object that follows o2 in partition 2's chain
		for _, o := range append(slices.Clone(a.manifests[2][1].Objects), a.manifests[2][2].Objects...) {
			if o.Key != o2 && after2 == "" {
				after2 = o.Key
			}
		}
		a.wantProblems(t, []found{
			{0, s3sink.ProblemMissing, gone}, {0, s3sink.ProblemBrokenChain, next},
			{1, s3sink.ProblemAltered, o1},
			{2, s3sink.ProblemBadMetadata, o2}, {2, s3sink.ProblemBrokenChain, after2},
		})
	})
}

// TestVerifyObjectLock: on a bucket with Object Lock in compliance mode,
// a locked version of an object or a manifest can be neither deleted nor
// have its retention shortened; a plain delete only adds a delete marker,
// a plain overwrite only adds a version, and verify reports both. Delete
// markers on every object are each named.
func TestVerifyObjectLock(t *testing.T) {
	a := newArchive(t, "vlock", 1, 2_000, true)
	ctx := context.Background()
	c := a.st.client
	m := a.manifests[0][0]
	obj := m.Objects[0].Key
	for _, key := range []string{obj, m.Key} {
		vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(a.st.bucket), Prefix: aws.String(key)})
		if err != nil || len(vs.Versions) == 0 {
			t.Fatalf("versions of %s: %v", key, err)
		}
		v := vs.Versions[0].VersionId
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key), VersionId: v,
			BypassGovernanceRetention: aws.Bool(true)})
		if err == nil {
			t.Fatalf("deleting the locked version of %s succeeded; want it refused", key)
		}
		t.Logf("delete locked version of %s: %v", key, err)
		_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(a.st.bucket), Key: aws.String(key), VersionId: v,
			Retention:                 &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(time.Hour))},
			BypassGovernanceRetention: aws.Bool(true)})
		if err == nil {
			t.Fatalf("shortening the retention of %s succeeded; want it refused", key)
		}
		t.Logf("shorten retention of %s: %v", key, err)
	}

	// A manifest written again with the same bytes is expected.
	a.put(t, m.Key, a.get(t, m.Key), nil)
	code, rep := a.verify(t)
	if got := problemsOf(t, rep); len(got) != 0 || code != 0 || len(rep.Expected) == 0 || !rep.Versioned {
		t.Fatalf("exit %d, problems %v, expected %v, versioned %v; want 0, none, the rewritten manifest as expected", code, got, rep.Expected, rep.Versioned)
	}

	// A plain overwrite adds a version; a plain delete, a marker.
	overwritten := a.manifests[0][1].Objects[0].Key
	b := a.get(t, overwritten)
	b[len(b)/2] ^= 1
	a.put(t, overwritten, b, a.head(t, overwritten))
	t.Run("overwrite and delete", func(t *testing.T) {
		a.del(t, m.Key)
		a.wantProblems(t, []found{
			{0, s3sink.ProblemNoncurrentVersion, overwritten}, {0, s3sink.ProblemAltered, overwritten},
			{0, s3sink.ProblemDeleteMarker, m.Key}, {0, s3sink.ProblemMissingManifest, m.Key},
		})
	})
	t.Run("delete markers on every object", func(t *testing.T) {
		var want []found
		for _, ms := range a.manifests[0] {
			for _, o := range ms.Objects {
				a.del(t, o.Key)
				want = append(want, found{0, s3sink.ProblemDeleteMarker, o.Key})
			}
		}
		// The first delivery's manifest was deleted too: its offsets are
		// in no delivery the bucket still shows.
		want = append(want, found{0, s3sink.ProblemNoncurrentVersion, overwritten}, found{0, s3sink.ProblemDeleteMarker, m.Key},
			found{0, s3sink.ProblemGap, ""})
		a.wantProblems(t, want)
	})
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func regzip(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyReconcilesAfterKills: the connector topic holds plain records,
// committed and aborted transactions (markers and aborted records take
// offsets) and records that are not events (dead-lettered by the sink).
// The sink is killed with SIGKILL twice while it delivers. Then the group
// is rewound (a replay). verify accounts for every offset up to the head
// and exits 0, and says the committed offset is behind the head.
func TestVerifyReconcilesAfterKills(t *testing.T) {
	const id = "vkill"
	base, prefix, topic := connectorTopic(t, id, 2)
	adm := kadm.NewClient(kafkatest.Client(t))
	if resp, err := adm.CreateTopic(context.Background(), 1, 1, nil, base+".dlq"); err != nil || resp.Err != nil {
		t.Fatalf("create dlq: %v %v", err, resp.Err)
	}
	st := newBucket(t)
	a := &archive{st: st, cfg: writeConfig(t, s3Pipeline(t, st, id, base, prefix, "{max_events: 300, max_bytes: 4MiB, max_age: 1s}")),
		id: id, topic: topic, partitions: 2, heads: headsTopic(t), pub: newPublisher(t, topic, 111)}
	ctx := context.Background()
	txn := kafkatest.Client(t, kgo.TransactionalID(fmt.Sprintf("verify-test-%d", time.Now().UnixNano())), kgo.DefaultProduceTopic(topic))
	transaction := func(n int, commit bool) {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range n {
			ev := a.pub.gen.Next()
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			if commit {
				a.pub.want[ev.GetId()] = true
			}
			txn.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	garbage := func(n int) {
		for i := range n {
			bad := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte{0xff, 0xff, byte(i)}}
			if err := a.pub.cl.ProduceSync(ctx, bad).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	sink := startSink(t, a.cfg, id)
	for kill := 1; kill <= 2; kill++ {
		a.pub.publish(3_000, nil)
		transaction(400, true)
		transaction(300, false)
		garbage(4)
		a.pub.publish(3_000, nil)
		time.Sleep(time.Duration(800+kill*300) * time.Millisecond)
		sink.Kill()
		sink = startSink(t, a.cfg, id)
	}
	transaction(200, true)
	// No partition's log may end with a marker: the sink does not always
	// commit past a trailing marker, and waitCommitted waits for the end.
	tail := kafkatest.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range a.partitions {
		for range 20 {
			ev := a.pub.gen.Next()
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				t.Fatal(err)
			}
			r.Partition = p
			a.pub.want[ev.GetId()] = true
			if err := tail.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitCommitted(t, "auditstream-sink-"+id, topic, 120*time.Second)
	sink.Stop(30 * time.Second)
	st.assertExactlyOnce(t, "e2e", a.pub.want)
	a.readManifests(t)
	a.recordHeads(t)

	// A replay: partition 0 rewound to 100.
	group := "auditstream-sink-" + id
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 100, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}

	code, rep := a.verify(t)
	if got := problemsOf(t, rep); len(got) != 0 || code != 0 {
		t.Fatalf("exit %d with problems %v; want 0 and none", code, got)
	}
	var data, dlq, control, aborted int64
	for _, p := range rep.Partitions {
		k := p.Kafka
		t.Logf("partition %d: %+v", p.Partition, *k)
		data, dlq, control, aborted = data+k.Data, dlq+k.DLQ, control+k.Control, aborted+k.Aborted
		if p.Partition == 0 && (k.Committed != 100 || !strings.Contains(k.Note, "behind the head")) {
			t.Errorf("partition 0: committed %d, note %q; want 100, behind the head", k.Committed, k.Note)
		}
	}
	if data != int64(len(a.pub.want)) || dlq != 8 || control != 10 || aborted != 600 {
		t.Errorf("reconciled %d data, %d dead-lettered, %d markers, %d aborted; want %d, 8, 10 (5 transactions × 2 partitions), 600",
			data, dlq, control, aborted, len(a.pub.want))
	}
	// The text report says the same, for a person.
	cmd := exec.Command(sinkBin, "verify", "--config", a.cfg, "--connector", id, "--heads-topic", a.heads)
	var progress bytes.Buffer
	cmd.Stderr = &progress
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "OK: no problem found") {
		t.Fatalf("text report: %v\n%s", err, out)
	}
	if !strings.Contains(progress.String(), "verify: done") {
		t.Errorf("no progress on stderr:\n%s", progress.String())
	}
	t.Logf("text report:\n%s\nstderr:\n%s", out, progress.String())
}

// TestVerifyGenerations: objects and manifests that name another topic ID
// (a topic deleted and created again) are a generation of their own:
// checked on their own, never reconciled with the current topic. Here
// partition 0's whole archive is relabelled as another generation; the
// current topic's partition 0 then has nothing in the bucket.
func TestVerifyGenerations(t *testing.T) {
	a := newArchive(t, "vgen", 2, 3_000, false)
	const other = "AAAAAAAAAAAAAAAAAAAAAA==" // another topic ID
	for _, m := range a.manifests[0] {
		for _, o := range m.Objects {
			meta := a.head(t, o.Key)
			meta["topic-id"] = other
			_, err := a.st.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String(a.st.bucket), Key: aws.String(o.Key),
				CopySource: aws.String(a.st.bucket + "/" + o.Key), Metadata: meta, MetadataDirective: types.MetadataDirectiveReplace})
			if err != nil {
				t.Fatal(err)
			}
		}
		var raw map[string]any
		if err := json.Unmarshal(a.get(t, m.Key), &raw); err != nil {
			t.Fatal(err)
		}
		raw["topic_id"] = other
		b, _ := json.Marshal(raw)
		a.put(t, m.Key, append(b, '\n'), nil)
	}
	code, rep := a.verify(t)
	got := problemsOf(t, rep)
	if want := []found{{0, s3sink.ProblemMissingPartition, ""}}; !slices.Equal(got, want) || code != 1 {
		t.Errorf("exit %d, problems %v; want 1, %v", code, got, want)
	}
	if len(rep.Generations) != 1 || rep.Generations[0].TopicID != other || len(rep.Generations[0].Partitions) != 1 ||
		rep.Generations[0].Partitions[0].Partition != 0 || len(rep.Generations[0].Partitions[0].Problems) != 0 {
		t.Errorf("generations: %+v; want partition 0 of %s, without problems", rep.Generations, other)
	}
	if rep.Events != int64(len(a.pub.want)) {
		t.Errorf("events: got %d, want %d (both generations)", rep.Events, len(a.pub.want))
	}
}
