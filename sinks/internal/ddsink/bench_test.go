package ddsink

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/klauspost/compress/gzip"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// benchEvents returns n events shaped as make bench's: loadgen's, padded
// to about 700 bytes of protobuf, thirty tenants.
func benchEvents(n int) []*auditv1.Event {
	g := loadgen.New(loadgen.Config{Seed: 1, Tenants: 30, PadTo: 700, Now: now})
	out := make([]*auditv1.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// accepting is a transport that reads each request's body, as a server
// would, and answers 202 without a network.
type accepting struct{ bytes int64 }

func (a *accepting) RoundTrip(r *http.Request) (*http.Response, error) {
	n, err := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	a.bytes += n
	return &http.Response{
		StatusCode: http.StatusAccepted, Status: "202 Accepted", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader("{}")),
		Request: r,
	}, nil
}

// BenchmarkWrite measures a Writer's whole cost per event for batches of
// 1000 of make bench's events: mapping, sizing, the client's encoding and
// compression, up to the bytes a server would read.
func BenchmarkWrite(b *testing.B) {
	evs := benchEvents(1000)
	tr := &accepting{}
	w, err := New(Options{
		Connector:  connector("http://127.0.0.1:1", keyFile(b, testKey)),
		Now:        now,
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		b.Fatal(err)
	}
	// A delivered batch leaves nothing behind in the Writer, so the same
	// one can be written again.
	bt := batchOf(0, evs...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	b.ReportMetric(float64(tr.bytes)/float64(b.N*len(evs)), "wire-B/event")
}

// BenchmarkEntries measures the Writer's own share of that: mapping the
// events into logs and sizing them, without sending.
func BenchmarkEntries(b *testing.B) {
	evs := benchEvents(1000)
	w, err := New(Options{Connector: connector("http://127.0.0.1:1", keyFile(b, testKey)), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	bt := batchOf(0, evs...)
	b.ReportAllocs()
	for b.Loop() {
		p := w.book.begin(bt)
		if got := w.entries(bt, p); len(got) != len(evs) {
			b.Fatalf("entries: got %d, want %d", len(got), len(evs))
		}
		w.book.end(bt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkGzip compares the standard library's gzip, which the client
// would use, with klauspost/compress's, which gzipTransport uses, on a
// request body of 1000 of make bench's logs.
func BenchmarkGzip(b *testing.B) {
	m := newMapper("auditstream", "audit-svc", "sink-0", []string{"env:bench"})
	logs := m.builder(0)
	for _, ev := range benchEvents(1000) {
		if _, err := logs.add(ev); err != nil {
			b.Fatal(err)
		}
		logs.keep()
	}
	body, err := json.Marshal(logs.items())
	if err != nil {
		b.Fatal(err)
	}
	type compressor interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	run := func(b *testing.B, zw compressor) {
		var out bytes.Buffer
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			out.Reset()
			zw.Reset(&out)
			if _, err := zw.Write(body); err != nil {
				b.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
	}
	b.Run("stdlib-6", func(b *testing.B) {
		zw, _ := stdgzip.NewWriterLevel(nil, 6)
		run(b, zw)
	})
	for _, level := range []int{1, 5, 6, 9} {
		b.Run(fmt.Sprintf("klauspost-%d", level), func(b *testing.B) {
			zw, _ := gzip.NewWriterLevel(nil, level)
			run(b, zw)
		})
	}
}

// BenchmarkBody writes the body of a request of 1000 of make bench's logs:
// by hand (appendBody) and with the client's encoder, as SubmitLog would.
func BenchmarkBody(b *testing.B) {
	m := newMapper("auditstream", "audit-svc", "sink-0", []string{"env:bench"})
	logs := m.builder(0)
	for _, ev := range benchEvents(1000) {
		if _, err := logs.add(ev); err != nil {
			b.Fatal(err)
		}
		logs.keep()
	}
	entries := make([]entry, 0, 1000)
	for _, l := range logs.logs() {
		entries = append(entries, entry{log: l})
	}
	items := logs.items()
	b.Run("hand", func(b *testing.B) {
		var body []byte
		for b.Loop() {
			body = m.appendBody(body[:0], entries)
		}
		b.SetBytes(int64(len(body)))
	})
	b.Run("client", func(b *testing.B) {
		var body bytes.Buffer
		for b.Loop() {
			body.Reset()
			if err := datadog.NewEncoder(&body).Encode(&items); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(body.Len()))
	})
}
