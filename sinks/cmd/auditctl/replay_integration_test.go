//go:build integration

package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/replay"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// archived reads every event of every data object under prefix, by id.
func (st *s3Store) archived(t *testing.T, prefix string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, key := range st.keys(t, prefix+"/") {
		if !strings.HasSuffix(key, ".ndjson.gz") {
			continue
		}
		zr, err := gzip.NewReader(strings.NewReader(string(st.get(t, key))))
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
			got[ev.GetId()]++
		}
	}
	return got
}

// verify runs `sink verify` and returns its exit code, events and problems.
func verify(t *testing.T, cfg, connector string) (code, events, problems int) {
	t.Helper()
	cmd := exec.Command(sinkBin, "verify", "--json", "--config", cfg, "--connector", connector)
	out, _ := cmd.Output()
	var rep struct {
		Events   int `json:"events"`
		Problems int `json:"problems"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("sink verify output: %v\n%s", err, out)
	}
	if rep.Problems > 0 {
		t.Logf("sink verify found problems:\n%s", out)
	}
	return cmd.ProcessState.ExitCode(), rep.Events, rep.Problems
}

// manifestOf is the part of an s3sink manifest the test reads.
type manifestOf struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	First     int64 `json:"first"`
	Last      int64 `json:"last"`
	Objects   []struct {
		Key     string `json:"key"`
		Records int    `json:"records"`
	} `json:"objects"`
}

// TestReplayS3RestoresDeleted: 3,000 events, written in transactions, are
// archived; then three deliveries in the middle of the partitions (their
// objects and their manifests) are deleted, as a mistaken lifecycle rule
// would. verify sees the holes, and the replay's plan names them. Because
// archived deliveries follow the holes, the replay is refused without
// --allow-overlap; with it (the same batch settings reproduce the original
// boundaries), exactly the missing events come back: every event is in the
// bucket exactly once, and verify passes. Then the last deliveries of a
// partition go missing, and a replay with other batch boundaries brings
// them back exactly once too. Last, an object goes missing while its
// manifest remains: the plan names the delivery (the writer skips it);
// with its manifest deleted as the plan advises, the replay restores it.
func TestReplayS3RestoresDeleted(t *testing.T) {
	const id = "rp-s3"
	tp := newTopics(t)
	topic := tp.connector(t, id, 2)
	st := newBucket(t, false)
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+fmt.Sprintf(`  - id: %s
    type: s3
    listen: 127.0.0.1:0
    batch: {max_events: 250, max_bytes: 4MiB, max_age: 1s}
%s`, id, st.connectorYAML("arch")))
	group := "auditstream-sink-" + id

	pub := newPublisher(t, topic, 17, true)
	for range 6 {
		pub.publish(500)
	}
	sink := startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 90*time.Second)
	sink.Stop()
	if code, events, problems := verify(t, cfg, id); code != 0 || events != 3000 || problems != 0 {
		t.Fatalf("before the deletion verify: exit %d, %d events, %d problems", code, events, problems)
	}

	// Delete deliveries 2 and 3 of partition 0 and delivery 2 of
	// partition 1, objects and manifests.
	byPartition := map[int32][]string{}
	for _, k := range st.keys(t, "arch/_manifests/") {
		var m manifestOf
		if err := json.Unmarshal(st.get(t, k), &m); err != nil {
			t.Fatal(err)
		}
		byPartition[m.Partition] = append(byPartition[m.Partition], k)
	}
	deleted := 0
	wantMissing := map[int32]string{}
	for p, picks := range map[int32][]int{0: {1, 2}, 1: {1}} {
		ms := byPartition[p]
		sort.Strings(ms)
		if len(ms) < 4 {
			t.Fatalf("partition %d has %d deliveries; the test wants at least 4", p, len(ms))
		}
		var spans []s3sink.Span
		for _, i := range picks {
			var m manifestOf
			_ = json.Unmarshal(st.get(t, ms[i]), &m)
			if n := len(spans); n > 0 && spans[n-1].Last+1 == m.Start {
				spans[n-1].Last = m.Last
			} else {
				spans = append(spans, s3sink.Span{First: m.Start, Last: m.Last})
			}
			for _, o := range m.Objects {
				st.delete(t, o.Key)
				deleted += o.Records
			}
			st.delete(t, ms[i])
			t.Logf("deleted partition %d delivery %d-%d (%d objects)", p, m.First, m.Last, len(m.Objects))
		}
		wantMissing[p] = fmt.Sprint(spans)
	}
	if code, events, _ := verify(t, cfg, id); code == 0 || events != 3000-deleted {
		t.Fatalf("after deleting %d events verify exits %d with %d events; want a failure and %d", deleted, code, events, 3000-deleted)
	}

	code, out, errs := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--dry-run", "--json")
	if code != exitOK {
		t.Fatalf("replay --dry-run: exit %d\n%s", code, errs)
	}
	var res replayResult
	jsonOut(t, out, &res)
	if res.Plan.Again != 3000 || res.Applied || !strings.Contains(res.Plan.Effect, "S3") || !res.Plan.Overlap {
		t.Fatalf("dry run: again %d applied %v overlap %v effect %q; want 3000, false, true, S3", res.Plan.Again, res.Applied, res.Plan.Overlap, res.Plan.Effect)
	}
	gotMissing := map[int32]string{}
	for _, pp := range res.Plan.Partitions {
		gotMissing[pp.Partition] = fmt.Sprint(pp.Missing)
	}
	if fmt.Sprint(gotMissing) != fmt.Sprint(wantMissing) {
		t.Fatalf("the plan says the bucket lacks %v; the test deleted %v", gotMissing, wantMissing)
	}
	// Archived deliveries follow the holes: refused without --allow-overlap.
	code, _, errs = ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--yes")
	if code != exitProblem || !strings.Contains(errs, "--allow-overlap") {
		t.Fatalf("replay over holes: exit %d, want 1\n%s", code, errs)
	}
	// The sink's batch settings and the backlog reproduce the original
	// boundaries here, so the overlap is safe.
	if code, _, errs := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--yes", "--allow-overlap"); code != exitOK {
		t.Fatalf("replay: exit %d\n%s", code, errs)
	}
	for p, o := range committed(t, tp.adm, group, topic) {
		if o != 0 {
			t.Errorf("partition %d committed at %d after the replay, want 0", p, o)
		}
	}
	sink = startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 90*time.Second)
	sink.Stop()
	checkArchive := func(when string) {
		t.Helper()
		got := st.archived(t, "arch")
		missing, dup, extra := kafkatest.Tally(pub.want, got)
		if missing+dup+extra > 0 {
			t.Fatalf("%s: %d missing, %d duplicated, %d unexpected of %d", when, missing, dup, extra, len(pub.want))
		}
		if code, events, problems := verify(t, cfg, id); code != 0 || events != 3000 || problems != 0 {
			t.Fatalf("%s: verify exits %d, %d events, %d problems", when, code, events, problems)
		}
	}
	checkArchive("after the replay over holes")
	t.Logf("%d deleted events written again; all 3000 exactly once, verify passes", deleted)

	// The last two deliveries of partition 1 go missing. Nothing archived
	// follows them: the replay is not refused, and other batch boundaries
	// (max_events 400 instead of 250) still give every event exactly once.
	ms := byPartition[1]
	sort.Strings(ms)
	for _, k := range ms[len(ms)-2:] {
		var m manifestOf
		_ = json.Unmarshal(st.get(t, k), &m)
		for _, o := range m.Objects {
			st.delete(t, o.Key)
		}
		st.delete(t, k)
	}
	cfg = writeConfig(t, strings.Replace(proctest.ReadFile(t, cfg), "max_events: 250", "max_events: 400", 1))
	code, out, errs = ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--yes", "--json")
	res = replayResult{}
	jsonOut(t, out, &res)
	if code != exitOK || res.Plan.Overlap || len(res.Plan.Partitions[0].Missing) != 0 || len(res.Plan.Partitions[1].Missing) != 1 {
		t.Fatalf("replay of a missing tail: exit %d, plan %+v\n%s", code, res.Plan, errs)
	}
	sink = startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 90*time.Second)
	sink.Stop()
	checkArchive("after the replay of a missing tail with other batch boundaries")

	// One object of partition 0's last delivery goes missing; its manifest
	// remains. The plan finds it and says the writer would skip it; once
	// the delivery is deleted whole as the plan advises (its other objects,
	// then its manifest), a replay with other batch boundaries writes it
	// again.
	ms = byPartition[0]
	sort.Strings(ms)
	lastKey := ms[len(ms)-1]
	var lastM manifestOf
	_ = json.Unmarshal(st.get(t, lastKey), &lastM)
	gone := lastM.Objects[0].Key
	st.delete(t, gone)
	code, out, errs = ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--dry-run", "--json")
	res = replayResult{}
	jsonOut(t, out, &res)
	p0 := res.Plan.Partitions[0]
	if code != exitOK || res.Plan.Orphans != 1 || len(p0.Orphans) != 1 || p0.Orphans[0].Manifest != lastKey ||
		fmt.Sprint(p0.Orphans[0].Missing) != fmt.Sprint([]string{gone}) || len(p0.Missing) != 0 || !strings.Contains(errs, "manifests remain") {
		t.Fatalf("dry run with an object gone under its manifest: exit %d, partition 0 %+v\n%s", code, p0, errs)
	}
	for _, k := range p0.Orphans[0].Objects {
		if k != gone {
			st.delete(t, k)
		}
	}
	st.delete(t, lastKey)
	code, out, errs = ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--yes", "--json")
	res = replayResult{}
	jsonOut(t, out, &res)
	if p0 = res.Plan.Partitions[0]; code != exitOK || res.Plan.Overlap || res.Plan.Orphans != 0 || len(p0.Missing) != 1 || p0.Missing[0].Last != lastM.Last {
		t.Fatalf("replay after deleting the manifest: exit %d, partition 0 %+v\n%s", code, p0, errs)
	}
	sink = startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 90*time.Second)
	sink.Stop()
	checkArchive("after the replay of a delivery whose object was gone under its manifest")

	// A bucket it cannot read: the replay cannot tell what the bucket
	// lacks, and refuses.
	wrong := filepath.Join(t.TempDir(), "wrong-secret")
	if err := os.WriteFile(wrong, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := writeConfig(t, strings.Replace(proctest.ReadFile(t, cfg), "secret_access_key: {file: "+st.skFile, "secret_access_key: {file: "+wrong, 1))
	code, _, errs = ctl(t, "replay", "--config", bad, "--connector", id, "--from", "earliest", "--yes")
	if code != exitProblem || !strings.Contains(errs, "could not be read") {
		t.Fatalf("replay with a bucket it cannot read: exit %d, want 1\n%s", code, errs)
	}
}

// TestReplayDatadog: a Datadog connector delivers 2,000 events. A replay
// is refused while the sink runs; with --wait it waits, goes on once the
// sink stops, and with --follow reports the lag until the sink, started
// again, has caught up. Its dry run announces how many records are delivered
// again, and the intake then receives exactly that many duplicates, each
// event at most twice, every event at least once.
func TestReplayDatadog(t *testing.T) {
	const id = "rp-dd"
	tp := newTopics(t)
	topic := tp.connector(t, id, 2)
	in := startIntake(t)
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+fmt.Sprintf(`  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_events: 200, max_age: 500ms}
%s`, id, ddYAML(t, in, ddKey)))
	group := "auditstream-sink-" + id
	pub := newPublisher(t, topic, 23, true)
	for range 4 {
		pub.publish(500)
	}
	// Before the sink ever ran (nothing committed: it would start at 0),
	// an offset ahead would skip undelivered records, and one past the
	// end does not exist: both refused, nothing committed.
	for _, tc := range []struct{ from, msg string }{
		{"0:10", "would skip 10 offsets never delivered"},
		{"1:99999", "past the end"},
		{"7:0", "has no partition 7"},
	} {
		code, _, errs := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", tc.from, "--yes")
		if code != exitProblem || !strings.Contains(errs, tc.msg) {
			t.Fatalf("replay --from %s: exit %d, want 1 with %q\n%s", tc.from, code, tc.msg, errs)
		}
	}
	if c := committed(t, tp.adm, group, topic); len(c) != 0 {
		t.Fatalf("refused replays committed %v", c)
	}
	sink := startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 60*time.Second)
	before := committed(t, tp.adm, group, topic)

	// Refused while the sink is a member.
	eventually(t, 30*time.Second, "the sink to be a member", func() bool {
		_, n, err := replay.Members(context.Background(), tp.adm, group)
		return err == nil && n == 1
	})
	from := "0:300,1:100"
	code, _, errs := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", from, "--yes")
	if code != exitProblem || !strings.Contains(errs, "active member") || !strings.Contains(errs, "--wait") {
		t.Fatalf("replay while the sink runs: exit %d, want 1 with a reason:\n%s", code, errs)
	}
	if after := committed(t, tp.adm, group, topic); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused replay moved the offsets: %v -> %v", before, after)
	}

	code, out, errs := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", from, "--dry-run", "--json")
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, errs)
	}
	var dry replayResult
	jsonOut(t, out, &dry)
	announced := dry.Plan.Again
	if announced == 0 || dry.Plan.Approx {
		t.Fatalf("dry run announces %d duplicates (approx %v)", announced, dry.Plan.Approx)
	}

	// --wait: waits while the sink runs, goes on when it stops.
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		c, o, e := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", from, "--wait", "--follow", "--every", "200ms", "--json")
		done <- result{c, o, e}
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("replay --wait returned while the sink ran: exit %d\n%s", r.code, r.errs)
	default:
	}
	sink.Stop()
	// The replay rewinds, then follows the lag until the sink, started
	// again, has caught up.
	eventually(t, 30*time.Second, "the rewind", func() bool {
		c := committed(t, tp.adm, group, topic)
		return c[0] == 300 && c[1] == 100
	})
	startSink(t, cfg, id) // stopped by its cleanup
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("replay --wait --follow did not finish after the sink caught up")
	}
	if r.code != exitOK || !strings.Contains(r.errs, "waiting for group") || !strings.Contains(r.errs, "caught up") {
		t.Fatalf("replay --wait --follow: exit %d\n%s", r.code, r.errs)
	}
	var res replayResult
	jsonOut(t, r.out, &res)
	if !res.Applied || res.Plan.Again != announced || res.Lag == nil || *res.Lag != 0 {
		t.Fatalf("replay applied %v, again %d, lag after follow %v; the dry run announced %d", res.Applied, res.Plan.Again, res.Lag, announced)
	}
	waitCommitted(t, tp.adm, group, topic, true, 60*time.Second)
	got := in.delivered()
	dupCopies := 0
	for evID, n := range got {
		if n > 2 {
			t.Errorf("event %s delivered %d times", evID, n)
		}
		dupCopies += n - 1
	}
	missing, _, extra := kafkatest.Tally(pub.want, got)
	if missing+extra > 0 {
		t.Fatalf("%d missing, %d unexpected", missing, extra)
	}
	if int64(dupCopies) != announced {
		t.Fatalf("the intake received %d duplicates; the dry run announced %d", dupCopies, announced)
	}
	t.Logf("refused while running; --wait waited; %d duplicates, as announced", dupCopies)
}

// TestReplayDatadogBounded: replay --to re-delivers a range beside live
// delivery. While the sink runs and new events keep arriving, the range
// 0:100-300 and 1:50-250 is sent again: exactly the events at those
// offsets arrive twice, as many as the dry run announced, every other
// event once; the group's offsets are not moved and the sink stays a
// member.
func TestReplayDatadogBounded(t *testing.T) {
	const id = "rp-ddb"
	tp := newTopics(t)
	topic := tp.connector(t, id, 2)
	in := startIntake(t)
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+fmt.Sprintf(`  - id: %s
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_events: 200, max_age: 300ms}
%s`, id, ddYAML(t, in, ddKey)))
	group := "auditstream-sink-" + id
	pub := newPublisher(t, topic, 29, true)
	for range 4 {
		pub.publish(300)
	}
	startSink(t, cfg, id)
	waitCommitted(t, tp.adm, group, topic, true, 60*time.Second)
	before := committed(t, tp.adm, group, topic)

	// The ids at the offsets of the range.
	again := map[string]bool{}
	for _, r := range kafkatest.ReadAll(t, topic, 1200, 10*time.Second) {
		if (r.Partition == 0 && r.Offset >= 100 && r.Offset < 300) || (r.Partition == 1 && r.Offset >= 50 && r.Offset < 250) {
			ev, err := record.Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			again[ev.GetId()] = true
		}
	}
	args := []string{"replay", "--config", cfg, "--connector", id, "--from", "0:100,1:50", "--to", "0:300,1:250", "--json"}
	code, out, errs := ctl(t, append(args, "--dry-run")...)
	var dry boundedResult
	jsonOut(t, out, &dry)
	if code != exitOK || dry.Records != int64(len(again)) {
		t.Fatalf("dry run: exit %d, %d records announced, the range holds %d events\n%s", code, dry.Records, len(again), errs)
	}

	live := make(chan struct{})
	go func() { // live delivery goes on meanwhile
		defer close(live)
		for range 3 {
			pub.publish(100)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	code, out, errs = ctl(t, append(args, "--yes")...)
	<-live
	var res boundedResult
	jsonOut(t, out, &res)
	if code != exitOK || res.Result == nil || res.Result.Sent != dry.Records {
		t.Fatalf("replay --to: exit %d, result %+v, want %d sent\n%s", code, res.Result, dry.Records, errs)
	}
	waitCommitted(t, tp.adm, group, topic, true, 60*time.Second)
	got := in.delivered()
	missing, _, extra := kafkatest.Tally(pub.want, got)
	if missing+extra > 0 {
		t.Fatalf("%d missing, %d unexpected", missing, extra)
	}
	for evID := range pub.want {
		want := 1
		if again[evID] {
			want = 2
		}
		if got[evID] != want {
			t.Fatalf("event %s delivered %d times, want %d", evID, got[evID], want)
		}
	}
	after := committed(t, tp.adm, group, topic)
	for p, o := range before {
		if after[p] < o {
			t.Fatalf("partition %d: committed %d before, %d after: the bounded replay moved the group", p, o, after[p])
		}
	}
	if _, n, err := replay.Members(context.Background(), tp.adm, group); err != nil || n != 1 {
		t.Fatalf("the sink is no longer a member (%d, %v)", n, err)
	}
	t.Logf("%d events sent again beside live delivery (300 new ones delivered once meanwhile)", res.Result.Sent)
}

// An S3 replay whose bucket cannot be reached changes nothing and exits 3,
// like an unreachable Kafka: an outage to wait out and run again after, not
// a refusal (exit 1) that needs --allow-overlap. The chaos run met it: a
// replay that overlapped a MinIO outage.
func TestReplayS3BucketUnreachable(t *testing.T) {
	const id = "rp-s3-down"
	tp := newTopics(t)
	topic := tp.connector(t, id, 2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	st := &s3Store{bucket: "ctl-down", endpoint: down,
		akFile: proctest.Env(t, "AUDITSTREAM_S3_ACCESS_KEY_FILE"), skFile: proctest.Env(t, "AUDITSTREAM_S3_SECRET_KEY_FILE")}
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+fmt.Sprintf(`  - id: %s
    type: s3
    listen: 127.0.0.1:0
%s`, id, st.connectorYAML("arch")))
	newPublisher(t, topic, 3, false).publish(200)
	group := "auditstream-sink-" + id
	// As if a sink had delivered everything: a replay from earliest then
	// has records to deliver again, and must read the bucket first.
	ends, err := tp.adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var os kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) { os.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	if err := tp.adm.CommitAllOffsets(context.Background(), group, os); err != nil {
		t.Fatal(err)
	}
	before := committed(t, tp.adm, group, topic)

	code, _, stderr := ctl(t, "replay", "--config", cfg, "--connector", id, "--from", "earliest", "--yes")
	if code != 3 {
		t.Fatalf("replay with the bucket unreachable: exit %d, want 3 (unreachable)\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "could not be reached") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("stderr does not say the bucket could not be reached, and why:\n%s", stderr)
	}
	if got := committed(t, tp.adm, group, topic); !maps.Equal(got, before) {
		t.Errorf("the group's offsets changed: %v, were %v", got, before)
	}
}
