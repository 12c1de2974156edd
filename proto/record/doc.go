// Package record is the contract between Auditstream and Kafka: how an audit
// event (auditv1.Event) becomes a Kafka record, and back.
//
//   - Key: the project id and the first tenant, so that one tenant's events
//     stay in order within a partition. The key is for partitioning only and
//     is never parsed.
//   - Value: the event as protobuf binary (content-type
//     application/x-protobuf), or as protojson (application/json) for
//     producers written in other languages: kcat, Python, Java.
//   - Headers: content-type; project; action; and one tenant header per
//     tenant. A record without content-type is detected: JSON if it starts
//     with '{', protobuf otherwise.
//
// Headers are a producer's claim, not a fact: the router routes on the
// value, never on the headers alone. It reads every value (ScanProtobuf for
// protobuf, ScanJSON for JSON) and validates it. A record with project and
// action headers must agree with its value (CheckHeaders: one project, one
// action, the value's tenants in any order, keys matched exactly), or it is
// a dead letter, header_mismatch; a record without them is rewritten into
// the contract from its value. The producer SDK writes the headers from the
// event itself; a hand-written producer may leave them out.
//
// Validation (Validate, CheckSize) is shared by the producer, which rejects
// bad events before they are sent, and the router, which sends records that
// fail it to the dead-letter topic.
package record

// Header names of the record contract.
const (
	HeaderContentType = "content-type"
	HeaderProject     = "project"
	HeaderAction      = "action"
	HeaderTenant      = "tenant"
)

// Content types of the record value.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// Headers of a record in the dead-letter topic. The value is the original
// record's value, unchanged, and the original headers follow these.
const (
	HeaderDLQStage     = "dlq-stage"     // router, or sink:<connector id>
	HeaderDLQReason    = "dlq-reason"    // a short, stable code: see Reason
	HeaderDLQError     = "dlq-error"     // the full error message
	HeaderDLQTopic     = "dlq-topic"     // where the record was read
	HeaderDLQPartition = "dlq-partition" // decimal
	HeaderDLQOffset    = "dlq-offset"    // decimal

	// A dead letter cut to fit the dead-letter topic (DeadLetter) says so.
	HeaderDLQTruncated      = "dlq-truncated"       // "true"
	HeaderDLQOriginalBytes  = "dlq-original-bytes"  // the original value's size, decimal
	HeaderDLQOriginalSHA256 = "dlq-original-sha256" // the original value's sha256, hex
	HeaderDLQHeadersDropped = "dlq-headers-dropped" // original headers left out, decimal
)
