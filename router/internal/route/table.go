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
	// Unknown names the encoding (json or protobuf) of a value that had
	// fields this schema does not know, accepted for forward compatibility.
	Unknown string
}

// Route appends to out the records to produce for r: a copy for each
// connector whose filter matches, or one dead letter.
//
// Routing is on the value, never on the headers alone, and a value reaches
// a connector only if it decodes and validates:
//   - the whole record (key, headers and value) must fit what the router's
//     producer sends (RecordBytes), and the value max_event_bytes;
//   - the value is read by a scan that checks it decodes as the sinks will
//     decode it and reads only the fields routing and validation need
//     (ScanProtobuf, ScanJSON);
//   - a record with the contract headers (project and action) must agree
//     with its value (record.CheckHeaders), or it is a header_mismatch
//     dead letter; one that agrees is forwarded as it came;
//   - a record without them, or whose value has no id, is rewritten into
//     the record contract from its value (key and headers set, an id
//     derived from its source position when it had none), so that sinks
//     always see contract records.
//
// Every failure is one dead letter, here: a sink never receives a record
// that does not decode or validate.
func (t *Table) Route(r *kgo.Record, out []*kgo.Record) ([]*kgo.Record, Outcome) {
	dead := func(reason string, err error) ([]*kgo.Record, Outcome) {
		return append(out, record.DeadLetter(r, t.DLQTopic, Stage, reason, err, t.RecordBytes)), Outcome{DLQReason: reason}
	}
	if n := record.Size(r); t.RecordBytes > 0 && n > t.RecordBytes {
		return dead(record.ReasonTooLarge, fmt.Errorf("record too large: %d bytes with its key and headers, over the %d the router can produce", n, t.RecordBytes))
	}
	if err := record.CheckSize(len(r.Value), t.MaxBytes); err != nil {
		return dead(record.ReasonTooLarge, err)
	}
	v, err := read(r)
	if err != nil {
		return dead(record.Reason(err), err)
	}
	o := Outcome{Unknown: v.unknown}
	claim := record.HasClaim(r.Headers)
	if claim {
		if err := record.CheckHeaders(r.Headers, v.head.Meta); err != nil {
			return dead(record.ReasonHeaderMismatch, err)
		}
	}
	key, value, headers := r.Key, r.Value, r.Headers
	if !claim || v.head.ID == "" {
		normal, reason, err := normalize(r, v.ct)
		if err == nil && t.RecordBytes > 0 && record.Size(normal) > t.RecordBytes {
			reason, err = record.ReasonTooLarge, fmt.Errorf("record too large once rewritten into the contract: %d bytes, over the %d the router can produce", record.Size(normal), t.RecordBytes)
		}
		if err != nil {
			return dead(reason, err)
		}
		key, value, headers = normal.Key, normal.Value, normal.Headers
	}
	for _, c := range t.Connectors {
		if c.Rule.Match(v.head.Meta) {
			out = append(out, &kgo.Record{Topic: c.Topic, Key: key, Value: value, Headers: headers})
			if o.Matched == nil {
				o.Matched = make([]string, 0, len(t.Connectors))
			}
			o.Matched = append(o.Matched, c.ID)
		}
	}
	return out, o
}

// reading is what read learnt of a record's value.
type reading struct {
	ct      string      // its content type, from the header or detected
	head    record.Head // what routing and validation need
	unknown string      // json or protobuf when it had unknown fields
}

// read reads and validates a record's value, by its content type, with a
// scan that checks it decodes without building it.
func read(r *kgo.Record) (reading, error) {
	v := reading{ct: record.HeaderValue(r.Headers, record.HeaderContentType)}
	if v.ct == "" {
		v.ct = record.Detect(r.Value)
	}
	var err error
	switch v.ct {
	case record.ContentTypeProtobuf, "application/protobuf":
		v.head, err = record.ScanProtobuf(r.Value)
		if v.head.Unknown {
			v.unknown = "protobuf"
		}
	case record.ContentTypeJSON:
		v.head, err = record.ScanJSON(r.Value)
		if v.head.Unknown {
			v.unknown = "json"
		}
	default:
		_, err = record.Unmarshal(r.Value, v.ct) // for its error
	}
	if err == nil {
		err = v.head.Validate()
	}
	return v, err
}

// idSpace namespaces the ids the router derives for events that came
// without one. Derived from the source position, the id is the same on
// every replay, so downstream deduplication keeps working.
var idSpace = uuid.MustParse("6f1c5b7e-2a8d-4c59-9e0b-4d3f2a1b7c60")

// normalize re-encodes a record's value by the contract, keeping its
// encoding, with an id derived from its position when it has none.
func normalize(r *kgo.Record, ct string) (*kgo.Record, string, error) {
	ev, err := record.Unmarshal(r.Value, ct)
	if err != nil {
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
