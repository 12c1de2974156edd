// Package workload is what every scenario sends: a pool of synthetic audit
// events of about 700 bytes, encoded once by the record contract, and the
// connectors the router is benchmarked with.
package workload

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// EventBytes is the size loadgen pads each event's protobuf encoding to.
const EventBytes = 700

// Pool is a fixed set of generated events and their encoded records. A
// scenario cycles through it to send any number of events, so that the
// cost of generating an event (which is not the SDK's) stays out of the
// measurement. Event ids repeat every Size events; nothing downstream
// deduplicates in a benchmark, so that does not matter.
type Pool struct {
	enc     record.Encoding
	events  []*auditv1.Event
	records []*kgo.Record // Topic unset; key, value and headers shared
	bytes   int           // key+value+headers of all records
}

// NewPool generates size events (deterministic for seed) and encodes them
// with enc, contract headers included.
func NewPool(size int, seed uint64, enc record.Encoding) (*Pool, error) {
	if size <= 0 {
		return nil, fmt.Errorf("pool size %d: want > 0", size)
	}
	g := NewGenerator(seed)
	p := &Pool{enc: enc, events: make([]*auditv1.Event, size), records: make([]*kgo.Record, size)}
	for i := range size {
		ev := g.Next()
		r, err := record.Marshal(ev, enc)
		if err != nil {
			return nil, fmt.Errorf("encode generated event %d: %w", i, err)
		}
		p.events[i], p.records[i] = ev, r
		p.bytes += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			p.bytes += len(h.Key) + len(h.Value)
		}
	}
	return p, nil
}

// NewGenerator returns the generator of the pool's events, for a scenario
// that needs a fresh id for every event.
func NewGenerator(seed uint64) *loadgen.Generator {
	// Thirty tenants, as in the router's integration tests, so that the
	// connectors' tenant filters select a realistic share.
	return loadgen.New(loadgen.Config{Seed: seed, Tenants: 30, PadTo: EventBytes})
}

// Encoding is the encoding of the pool's record values.
func (p *Pool) Encoding() record.Encoding { return p.enc }

// EncodingName is "protobuf" or "JSON", for reports.
func EncodingName(enc record.Encoding) string {
	if enc == record.JSON {
		return "JSON"
	}
	return "protobuf"
}

// ParseEncoding reads an encoding flag: protobuf or json.
func ParseEncoding(s string) (record.Encoding, error) {
	switch s {
	case "protobuf", "proto", "":
		return record.Protobuf, nil
	case "json", "JSON":
		return record.JSON, nil
	}
	return 0, fmt.Errorf("encoding %q: want protobuf or json", s)
}

// Size is the number of distinct events.
func (p *Pool) Size() int { return len(p.events) }

// Event returns the i-th event, cycling. Callers must not modify it.
func (p *Pool) Event(i int) *auditv1.Event { return p.events[i%len(p.events)] }

// Record returns a new record for the i-th event, cycling, bound for topic.
// The key, value and headers are shared with the pool and must not be
// modified; the record itself is new, as franz-go requires of each produce.
func (p *Pool) Record(i int, topic string) *kgo.Record {
	r := p.records[i%len(p.records)]
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
}

// MeanRecordBytes is the mean of key, value and header bytes per record.
func (p *Pool) MeanRecordBytes() float64 { return float64(p.bytes) / float64(len(p.records)) }

// MeanValueBytes is the mean encoded event size.
func (p *Pool) MeanValueBytes() float64 {
	n := 0
	for _, r := range p.records {
		n += len(r.Value)
	}
	return float64(n) / float64(len(p.records))
}
