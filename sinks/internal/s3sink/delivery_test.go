package s3sink

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// item is an event of project at occurred, at offset.
func item(offset int64, project string, occurred time.Time) batch.Item {
	return batch.Item{Offset: offset, Event: &auditv1.Event{
		Id: fmt.Sprintf("id-%d", offset), ProjectId: project, Action: "LoginSucceed",
		Occurred: timestamppb.New(occurred),
	}}
}

func TestBuildGroupsByProjectAndHour(t *testing.T) {
	h5 := time.Date(2026, 11, 25, 5, 10, 0, 0, time.UTC)
	h6 := h5.Add(time.Hour)
	items := []batch.Item{
		item(10, "B", h6), // the anchor: the first record's object
		item(11, "A", h5),
		item(13, "B", h6), // offsets have gaps
		item(14, "A", h6),
		item(15, "A", h5),
		item(20, "B", h5.Add(-time.Minute)), // late event: an earlier hour
	}
	d, err := build(newLayout("pre", "c"), newEncoder(), 4, 9, items)
	if err != nil {
		t.Fatal(err)
	}
	type obj struct {
		key         string
		first, last int64
		records     int
	}
	want := []obj{
		{"pre/B/2026/11/25/06/c-4-00000000000000000010.ndjson.gz", 10, 13, 2},
		{"pre/A/2026/11/25/05/c-4-00000000000000000011.ndjson.gz", 11, 15, 2},
		{"pre/A/2026/11/25/06/c-4-00000000000000000014.ndjson.gz", 14, 14, 1},
		{"pre/B/2026/11/25/05/c-4-00000000000000000020.ndjson.gz", 20, 20, 1},
	}
	if len(d.objects) != len(want) {
		t.Fatalf("got %d objects, want %d", len(d.objects), len(want))
	}
	for i, o := range d.objects {
		if got := (obj{o.key, o.first, o.last, o.records}); got != want[i] {
			t.Errorf("object %d: got %+v, want %+v", i, got, want[i])
		}
	}
	if d.start != 9 || d.first != 10 || d.last != 20 || d.partition != 4 {
		t.Errorf("delivery: got start %d first %d last %d partition %d, want 9 10 20 4", d.start, d.first, d.last, d.partition)
	}
	if got := d.anchor().key; got != want[0].key {
		t.Errorf("anchor: got %s, want %s", got, want[0].key)
	}
	d.chain(link{sha256: "headsha", chain: "headchain"})
	wantPrev := []string{"headsha", d.objects[0].sha256, d.objects[1].sha256, d.objects[2].sha256}
	prevChain := "headchain"
	for i, o := range d.objects {
		if o.prev != wantPrev[i] {
			t.Errorf("object %d prev: got %q, want %q", i, o.prev, wantPrev[i])
		}
		// The documented definition, spelled out: sha256 of the two hex
		// strings concatenated.
		sum := sha256.Sum256([]byte(prevChain + o.sha256))
		if want := hex.EncodeToString(sum[:]); o.chain != want {
			t.Errorf("object %d chain: got %q, want %q", i, o.chain, want)
		}
		prevChain = o.chain
	}
	m := metaOf(d, d.objects[2])
	if m.batchStart != 9 || m.batchFirst != 10 || m.batchLast != 20 || m.first != 14 || m.prev != d.objects[1].sha256 {
		t.Errorf("metadata of object 2: got %+v", m)
	}
}

func TestContentIsDeterministic(t *testing.T) {
	items := sampleItems(300, 1000, 7)
	// Many data keys, so that map order would show if it leaked into the
	// output.
	for i := range items {
		f := items[i].Event.GetData().GetFields()
		for k := range 20 {
			f[fmt.Sprintf("k%02d", k)] = structpb.NewNumberValue(float64(k))
		}
	}
	l := newLayout("p", "c")
	first, err := build(l, newEncoder(), 0, 1000, items)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		// Fresh copies of the events: the same input bytes, new messages.
		again := make([]batch.Item, len(items))
		for i, it := range items {
			b, err := proto.Marshal(it.Event)
			if err != nil {
				t.Fatal(err)
			}
			ev := new(auditv1.Event)
			if err := proto.Unmarshal(b, ev); err != nil {
				t.Fatal(err)
			}
			again[i] = batch.Item{Offset: it.Offset, Event: ev}
		}
		d, err := build(l, newEncoder(), 0, 1000, again)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.objects) != len(first.objects) {
			t.Fatalf("round %d: got %d objects, want %d", round, len(d.objects), len(first.objects))
		}
		for i, o := range d.objects {
			if !bytes.Equal(o.content, first.objects[i].content) || o.sha256 != first.objects[i].sha256 {
				t.Errorf("round %d object %s: got sha256 %s, want %s", round, o.key, o.sha256, first.objects[i].sha256)
			}
		}
	}
}

func TestContentRoundTrips(t *testing.T) {
	items := sampleItems(500, 0, 3)
	byID := make(map[string]batch.Item)
	for _, it := range items {
		byID[it.Event.GetId()] = it
	}
	d, err := build(newLayout("", "c"), newEncoder(), 0, 0, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.objects) < 4 {
		t.Fatalf("got %d objects, want several (3 projects, events over two hours)", len(d.objects))
	}
	seen := make(map[string]bool)
	for _, o := range d.objects {
		sum := sha256.Sum256(o.content)
		if got := hex.EncodeToString(sum[:]); got != o.sha256 {
			t.Errorf("%s: sha256 %s, content hashes to %s", o.key, o.sha256, got)
		}
		zr, err := gzip.NewReader(bytes.NewReader(o.content))
		if err != nil {
			t.Fatalf("%s: %v", o.key, err)
		}
		sc := bufio.NewScanner(zr)
		n, prev := 0, int64(-1)
		for sc.Scan() {
			line := sc.Bytes()
			var compact bytes.Buffer
			if err := json.Compact(&compact, line); err != nil || !bytes.Equal(compact.Bytes(), line) {
				t.Errorf("%s line %d is not compact JSON: %s", o.key, n, line)
			}
			ev := new(auditv1.Event)
			if err := protojson.Unmarshal(line, ev); err != nil {
				t.Fatalf("%s line %d: %v", o.key, n, err)
			}
			it, ok := byID[ev.GetId()]
			switch {
			case !ok || !proto.Equal(it.Event, ev):
				t.Errorf("%s line %d: got event %v, which is not among the items", o.key, n, ev)
			case seen[ev.GetId()]:
				t.Errorf("%s line %d: event %s is in two objects", o.key, n, ev.GetId())
			case it.Offset <= prev:
				t.Errorf("%s line %d: offset %d after %d", o.key, n, it.Offset, prev)
			case ev.GetProjectId() != strings.Split(o.key, "/")[0]:
				t.Errorf("%s line %d: project %s in another project's object", o.key, n, ev.GetProjectId())
			}
			seen[ev.GetId()], prev = true, it.Offset
			n++
		}
		if n != o.records {
			t.Errorf("%s: %d lines, want %d records", o.key, n, o.records)
		}
	}
	if len(seen) != len(items) {
		t.Errorf("events in objects: got %d, want %d", len(seen), len(items))
	}
}

func TestMetaRoundTrips(t *testing.T) {
	want := objectMeta{connector: "c", partition: 3, first: 11, last: 40, records: 17,
		sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", prev: "",
		chain:      "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		batchStart: 10, batchFirst: 11, batchLast: 99}
	h := want.header()
	// Stores may return the names in another case.
	mixed := make(map[string]string)
	for k, v := range h {
		mixed[k] = v
	}
	mixed["First-Offset"] = mixed[metaFirst]
	delete(mixed, metaFirst)
	for _, in := range []map[string]string{h, mixed} {
		got, err := parseMeta(in)
		if err != nil || got != want {
			t.Errorf("parseMeta: got %+v, %v; want %+v", got, err, want)
		}
	}
	badChain := maps.Clone(h)
	badChain[metaChainSHA256] = "ABC"
	if _, err := parseMeta(badChain); err == nil {
		t.Errorf("parseMeta with chain-sha256 %q: got no error", badChain[metaChainSHA256])
	}
	bad := map[string]string{metaConnector: "c", metaSHA256: "short", metaFirst: "x"}
	if _, err := parseMeta(bad); err == nil {
		t.Errorf("parseMeta(%v): got no error", bad)
	}
}

func TestManifestIsDeterministic(t *testing.T) {
	prevHead := strings.Repeat("0f", 32)
	items := sampleItems(200, 50, 9)
	var encoded [][]byte
	for range 3 {
		d, err := build(newLayout("p", "c"), newEncoder(), 2, 48, items)
		if err != nil {
			t.Fatal(err)
		}
		d.chain(link{sha256: prevHead, chain: strings.Repeat("1e", 32)})
		encoded = append(encoded, manifestOf(d).encode())
	}
	if !bytes.Equal(encoded[0], encoded[1]) || !bytes.Equal(encoded[1], encoded[2]) {
		t.Fatalf("manifests differ:\n%s\n%s", encoded[0], encoded[1])
	}
	m, err := parseManifest(encoded[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.Start != 48 || m.First != 50 || m.Last != 249 || m.Prev != prevHead || m.Partition != 2 || m.Connector != "c" {
		t.Errorf("manifest: got start %d first %d last %d prev %q partition %d connector %s; want 48 50 249 %s 2 c",
			m.Start, m.First, m.Last, m.Prev, m.Partition, m.Connector, prevHead)
	}
	if last := m.Objects[len(m.Objects)-1]; m.Head != last.SHA256 || m.Chain != last.Chain || !isSHA256(m.Chain) {
		t.Errorf("head: got %s chain %q, want the last object's sha256 %s and chain value %s", m.Head, m.Chain, last.SHA256, last.Chain)
	}
	total := 0
	for _, o := range m.Objects {
		total += o.Records
	}
	if total != len(items) {
		t.Errorf("manifest records: got %d, want %d", total, len(items))
	}
}
