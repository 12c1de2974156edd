package sink

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config/filter"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/redact"
)

// decoder turns a record of the connector topic into the event to deliver:
// decoded, validated, checked against the connector's filter, and
// redacted. A record that fails is a dead letter, with its reason.
//
// The work is split in two. At intake, check decides whether the record is
// an event this connector delivers; a protobuf value is only scanned
// (record.ScanProtobuf, which accepts exactly what a decode accepts), and
// held as it is; a JSON value is decoded and held as protobuf. When its batch is written, event decodes it. Held values
// take a fraction of the memory of decoded events, so the same budget holds
// several times the records, and batches fill.
type decoder struct {
	filter    *filter.Rule
	redact    *redact.Rules
	unmarshal func(value []byte) (*auditv1.Event, error) // unmarshalProtobuf
}

func unmarshalProtobuf(value []byte) (*auditv1.Event, error) {
	return record.Unmarshal(value, record.ContentTypeProtobuf)
}

// check returns the record as a batch item, or the dead-letter reason and
// error. The item holds a protobuf value, for event: the record's own, or
// for a JSON value, which only a decode can check, its event re-encoded.
// (Holding the JSON's decoded events costs as much CPU and more memory.)
//
// The router already applied the filter; applying it again here is
// defence in depth. A mismatch means a router bug, or a record that was
// written to the connector topic without the router. Either way the event
// must not reach this connector's destination, which may belong to another
// tenant. The filter sees the event before redaction, as the router did.
func (d decoder) check(rec *kgo.Record) (it batch.Item, reason string, err error) {
	it = batch.Item{Offset: rec.Offset, LeaderEpoch: rec.LeaderEpoch, Size: len(rec.Value)}
	var m record.Meta
	if isProtobuf(rec) {
		var h record.Head
		h, err = record.ScanProtobuf(rec.Value)
		if err == nil {
			err = h.Validate()
		}
		m, it.Value = h.Meta, rec.Value
	} else {
		it.Event, err = record.Decode(rec)
		if err == nil {
			err = record.Validate(it.Event)
		}
		m = record.MetaOf(it.Event)
	}
	if err != nil {
		return batch.Item{}, record.Reason(err), err
	}
	if !d.filter.Match(m) {
		return batch.Item{}, record.ReasonFilterMismatch, fmt.Errorf(
			"the connector's filter rejects the event (project %q, action %q, tenants %q): a router bug, or a record written past the router",
			m.Project, m.Action, m.Tenants)
	}
	if it.Event != nil {
		// Held as protobuf, like the others: a decoded event takes
		// several times the memory of its encoding.
		enc, err := record.Marshal(it.Event, record.Protobuf)
		if err != nil {
			return batch.Item{}, record.Reason(err), err
		}
		it.Event, it.Value = nil, enc.Value
	}
	return it, "", nil
}

// event returns the redacted event of a value that check accepted, or the
// dead-letter reason and error. It fails only if check and decoding
// disagree, which their differential tests rule out; a failure is still a
// dead letter, never a crash or a stuck partition.
func (d decoder) event(value []byte) (*auditv1.Event, string, error) {
	ev, err := d.unmarshal(value)
	if err != nil {
		return nil, record.Reason(err), fmt.Errorf("the value passed the check at intake but does not decode: %w", err)
	}
	d.redact.Apply(ev)
	return ev, "", nil
}

// isProtobuf reports whether a record's value is protobuf, as
// record.Decode reads it: by its content-type header, or detected.
func isProtobuf(rec *kgo.Record) bool {
	ct := record.HeaderValue(rec.Headers, record.HeaderContentType)
	if ct == "" {
		ct = record.Detect(rec.Value)
	}
	return ct == record.ContentTypeProtobuf || ct == "application/protobuf"
}
