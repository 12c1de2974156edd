package s3sink

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	kpgzip "github.com/klauspost/compress/gzip"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// BenchmarkGzip compares the standard library's gzip with
// klauspost/compress's on a realistic object: 2000 loadgen events (about
// 700 bytes of JSON each) as NDJSON. It reports throughput (MB/s of
// uncompressed input) and the compression ratio (input/output). Run it with
//
//	go test -run '^$' -bench Gzip -benchtime 20x ./internal/s3sink/
func BenchmarkGzip(b *testing.B) {
	raw := ndjson(b, 2000)
	b.Logf("input: %d events, %d bytes, %d bytes/event", 2000, len(raw), len(raw)/2000)
	type newWriter func(w io.Writer, level int) (io.WriteCloser, error)
	libs := []struct {
		name string
		new  newWriter
	}{
		{"stdlib", func(w io.Writer, l int) (io.WriteCloser, error) { return stdgzip.NewWriterLevel(w, l) }},
		{"klauspost", func(w io.Writer, l int) (io.WriteCloser, error) { return kpgzip.NewWriterLevel(w, l) }},
	}
	for _, lib := range libs {
		for _, level := range []int{1, 3, 5, 6, 9} {
			b.Run(fmt.Sprintf("%s/level=%d", lib.name, level), func(b *testing.B) {
				var out bytes.Buffer
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					out.Reset()
					zw, err := lib.new(&out, level)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := zw.Write(raw); err != nil {
						b.Fatal(err)
					}
					if err := zw.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(raw))/float64(out.Len()), "ratio")
			})
		}
	}
}

// ndjson is the uncompressed content of an object of n loadgen events,
// each enriched with the request details real audit records carry, which
// brings them to about 700 bytes of JSON.
func ndjson(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/v1/auth/otp/verify/email", "/v1/auth/magiclink/signin", "/v1/auth/refresh", "/v1/mgmt/user/update", "/v1/auth/sso/exchange"}
	for _, it := range sampleItems(n, 0, 1) {
		f := it.Event.GetData().GetFields()
		f["requestId"] = structpb.NewStringValue(fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
		f["traceId"] = structpb.NewStringValue(fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
		f["path"] = structpb.NewStringValue(paths[rng.IntN(len(paths))])
		f["latencyMs"] = structpb.NewNumberValue(float64(rng.IntN(900) + 12))
		f["sdk"] = structpb.NewStringValue(fmt.Sprintf("web-js/1.%d.%d", rng.IntN(9), rng.IntN(30)))
		f["referer"] = structpb.NewStringValue(fmt.Sprintf("https://app%d.example.com/login?next=%%2Fdashboard%%2F%d", rng.IntN(40), rng.IntN(10000)))
		line, err := protojson.Marshal(it.Event)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
