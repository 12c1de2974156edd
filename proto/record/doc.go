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
//     tenant. They let the router filter without decoding the value. A record
//     without project and action headers is decoded instead, and a record
//     without content-type is detected: JSON if it starts with '{', protobuf
//     otherwise.
//
// Headers are trusted to describe the value. The producer SDK writes them
// from the event itself; a hand-written producer that sets them must keep
// them consistent, or leave them out and let the router decode the value.
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
