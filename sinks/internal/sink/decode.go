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
// an event this connector delivers; its value is only scanned
// (record.ScanProtobuf or record.ScanJSON, which accept exactly what a
// decode accepts), and held as it is. When its batch is written, event
// decodes it. Held values take a fraction of the memory of decoded events,
// so the same budget holds several times the records, and batches fill.
type decoder struct {
	filter    *filter.Rule
	redact    *redact.Rules
	unmarshal func(value []byte, contentType string) (*auditv1.Event, error) // record.Unmarshal
}

// check returns the record as a batch item, or the dead-letter reason and
// error. The item holds the record's value, for event.
//
// The router already applied the filter; applying it again here is
// defence in depth. A mismatch means a router bug, or a record that was
// written to the connector topic without the router. Either way the event
// must not reach this connector's destination, which may belong to another
// tenant. The filter sees the event before redaction, as the router did.
func (d decoder) check(rec *kgo.Record) (it batch.Item, reason string, err error) {
	it = batch.Item{Offset: rec.Offset, LeaderEpoch: rec.LeaderEpoch, Size: len(rec.Value), Value: rec.Value}
	var h record.Head
	switch ct := contentType(rec); ct {
	case record.ContentTypeProtobuf, "application/protobuf":
		h, err = record.ScanProtobuf(rec.Value)
	case record.ContentTypeJSON:
		h, err = record.ScanJSON(rec.Value)
		it.JSON = true
	default:
		_, err = record.Unmarshal(rec.Value, ct) // its error names the content type
	}
	if err == nil {
		err = h.Validate()
	}
	if err != nil {
		return batch.Item{}, record.Reason(err), err
	}
	if !d.filter.Match(h.Meta) {
		return batch.Item{}, record.ReasonFilterMismatch, fmt.Errorf(
			"the connector's filter rejects the event (project %q, action %q, tenants %q): a router bug, or a record written past the router",
			h.Project, h.Action, h.Tenants)
	}
	return it, "", nil
}

// event returns the redacted event of an item that check accepted, or the
// dead-letter reason and error. It fails only if check and decoding
// disagree, which their differential tests rule out; a failure is still a
// dead letter, never a crash or a stuck partition.
func (d decoder) event(it *batch.Item) (*auditv1.Event, string, error) {
	ct := record.ContentTypeProtobuf
	if it.JSON {
		ct = record.ContentTypeJSON
	}
	ev, err := d.unmarshal(it.Value, ct)
	if err != nil {
		return nil, record.Reason(err), fmt.Errorf("the value passed the check at intake but does not decode: %w", err)
	}
	d.redact.Apply(ev)
	return ev, "", nil
}

// contentType is a record's content type, as record.Decode reads it: its
// content-type header, or detected.
func contentType(rec *kgo.Record) string {
	if ct := record.HeaderValue(rec.Headers, record.HeaderContentType); ct != "" {
		return ct
	}
	return record.Detect(rec.Value)
}
