package eventjson

import (
	"testing"
	"time"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// BenchmarkAppend measures Writer.Append per event on 1000 of make bench's
// events: loadgen's, padded to about 700 bytes of protobuf, thirty tenants.
func BenchmarkAppend(b *testing.B) {
	g := loadgen.New(loadgen.Config{Seed: 1, Tenants: 30, PadTo: 700, Now: func() time.Time { return epoch }})
	evs := make([]*auditv1.Event, 1000)
	for i := range evs {
		evs[i] = g.Next()
	}
	w := NewWriter()
	var buf []byte
	bytes := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			var ok bool
			if buf, ok = w.Append(buf[:0], ev); !ok {
				b.Fatal("left to protojson")
			}
			bytes += len(buf)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	b.ReportMetric(float64(bytes)/float64(b.N*len(evs)), "B/event")
}
