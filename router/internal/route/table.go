// Package route is the router's work: deciding where each audit event goes
// (Table) and moving events from audit.events to the connector topics
// exactly once, in Kafka transactions (Runner).
package route

import (
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/proto/record"
)

// Stage names the router in dead-letter headers.
const Stage = "router"

// Connector is one routing destination.
type Connector struct {
	ID    string
	Topic string
	Rule  *filter.Rule
}

// Table is a routing configuration: the connectors and where bad records go.
// A Table is immutable, so a reload swaps in a new one.
type Table struct {
	Connectors []Connector
	DLQTopic   string
	MaxBytes   int
	// RecordBytes is the largest record the router's producer sends.
	RecordBytes int
}

// NewTable compiles a pipeline's routing.
func NewTable(p *config.Pipeline) (*Table, error) {
	t := &Table{DLQTopic: p.Topics.DLQ.Name, MaxBytes: int(p.Router.MaxEventBytes), RecordBytes: int(p.RecordBytes())}
	for _, c := range p.Connectors {
		rule, err := filter.New(c.Filter)
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", c.ID, err)
		}
		t.Connectors = append(t.Connectors, Connector{ID: c.ID, Topic: p.ConnectorTopic(c.ID), Rule: rule})
	}
	return t, nil
}

// Outcome is what happened to one record, for metrics.
type Outcome struct {
	Matched   []string // connector ids
	DLQReason string   // set when the record went to the dead-letter topic
}

// Route appends to out the records to produce for r: a copy for each
// connector whose filter matches, or one dead letter.
//
// A record whose headers carry the project and action is routed on its
// headers alone, without decoding the value. Any other record is decoded
// and validated, and is rewritten into the record contract on the way out
// (key and headers set, an id derived from its source position when it had
// none), so that sinks always see contract records.
func (t *Table) Route(r *kgo.Record, out []*kgo.Record) ([]*kgo.Record, Outcome) {
	if err := record.CheckSize(len(r.Value), t.MaxBytes); err != nil {
		return append(out, record.DeadLetter(r, t.DLQTopic, Stage, record.ReasonTooLarge, err, t.RecordBytes)), Outcome{DLQReason: record.ReasonTooLarge}
	}
	meta, ok := record.MetaFromHeaders(r.Headers)
	key, value, headers := r.Key, r.Value, r.Headers
	if !ok {
		normal, reason, err := normalize(r)
		if err != nil {
			return append(out, record.DeadLetter(r, t.DLQTopic, Stage, reason, err, t.RecordBytes)), Outcome{DLQReason: reason}
		}
		key, value, headers = normal.Key, normal.Value, normal.Headers
		meta, _ = record.MetaFromHeaders(headers)
	}
	var o Outcome
	for _, c := range t.Connectors {
		if c.Rule.Match(meta) {
			out = append(out, &kgo.Record{Topic: c.Topic, Key: key, Value: value, Headers: headers})
			o.Matched = append(o.Matched, c.ID)
		}
	}
	return out, o
}

// idSpace namespaces the ids the router derives for events that came
// without one. Derived from the source position, the id is the same on
// every replay, so downstream deduplication keeps working.
var idSpace = uuid.MustParse("6f1c5b7e-2a8d-4c59-9e0b-4d3f2a1b7c60")

// normalize decodes and validates a record without contract headers and
// re-encodes it by the contract, keeping its encoding.
func normalize(r *kgo.Record) (*kgo.Record, string, error) {
	ct := record.HeaderValue(r.Headers, record.HeaderContentType)
	if ct == "" {
		ct = record.Detect(r.Value)
	}
	ev, err := record.Unmarshal(r.Value, ct)
	if err != nil {
		return nil, record.Reason(err), err
	}
	if err := record.Validate(ev); err != nil {
		return nil, record.Reason(err), err
	}
	if ev.GetId() == "" {
		pos := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
		ev.Id = uuid.NewSHA1(idSpace, []byte(pos)).String()
	}
	enc := record.Protobuf
	if ct == record.ContentTypeJSON {
		enc = record.JSON
	}
	out, err := record.Marshal(ev, enc)
	if err != nil {
		return nil, record.ReasonMalformedProtobuf, err
	}
	return out, "", nil
}
