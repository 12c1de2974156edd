package s3sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// The object bytes are part of the exactly-once protocol (a writer that
// adopts a delivery compares hashes), so they must not change between
// versions of the sink. This is the encoding as first defined: every line
// compacted by encoding/json, the whole NDJSON gzipped in one write.
func referenceEncode(t *testing.T, e *encoder, n int, seed uint64) (items int, want []byte, got []byte) {
	t.Helper()
	its := sampleItems(n, 0, seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, it := range its {
		// Strings that need escaping, spaces and quotes inside strings,
		// and numbers: what compaction must leave alone.
		f := it.Event.GetData().GetFields()
		f["note"] = structpb.NewStringValue(fmt.Sprintf("a \"quoted\" \\ path\t%d, with: spaces", rng.IntN(1000)))
		f["ratio"] = structpb.NewNumberValue(rng.Float64() * 1e6)
		f["nested"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(true), structpb.NewNullValue()}}),
		}})
	}
	var lines bytes.Buffer
	for _, it := range its {
		line, err := protojson.Marshal(it.Event)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&lines, line); err != nil {
			t.Fatal(err)
		}
		lines.WriteByte('\n')
	}
	var ref bytes.Buffer
	zw, err := gzip.NewWriterLevel(&ref, gzipLevel)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(lines.Bytes())
	zw.Close()
	content, raw, err := e.encode(its)
	if err != nil {
		t.Fatal(err)
	}
	if raw != lines.Len() {
		t.Errorf("raw size %d; want %d", raw, lines.Len())
	}
	return len(its), ref.Bytes(), content
}

// TestEncodeIsChunkingFree: encode streams lines to the compressor in
// chunks; its output is byte for byte the reference encoding, for objects
// smaller and much larger than a chunk.
func TestEncodeIsChunkingFree(t *testing.T) {
	e := newEncoder()
	for _, n := range []int{1, 7, 90, 2000, 9000} {
		_, want, got := referenceEncode(t, e, n, uint64(n))
		if !bytes.Equal(got, want) {
			t.Fatalf("%d events: encode gives %d bytes that differ from the reference encoding's %d", n, len(got), len(want))
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	e := newEncoder()
	items := sampleItems(2000, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.encode(items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}
