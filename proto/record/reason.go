package record

import (
	"errors"
	"strings"
)

// Dead-letter reasons: short, stable codes for the dlq-reason header and for
// metrics, the same whichever stage (router or sink) rejects a record.
// Validation failures are "missing_<field>" or "invalid_<field>".
const (
	ReasonTooLarge          = "too_large"
	ReasonMalformedJSON     = "malformed_json"
	ReasonMalformedProtobuf = "malformed_protobuf"
	ReasonContentType       = "unknown_content_type"
	ReasonInvalid           = "invalid" // an error that names no field
	// ReasonHeaderMismatch: the contract headers disagree with the value.
	ReasonHeaderMismatch = "header_mismatch"
	// ReasonFilterMismatch: a sink received an event its connector's filter
	// rejects (a router bug, or a record that bypassed the router).
	ReasonFilterMismatch = "filter_mismatch"
)

// Reason is the dead-letter reason for an error of CheckSize, Unmarshal,
// Decode or Validate.
func Reason(err error) string {
	var (
		se *SizeError
		de *DecodeError
		fe *FieldError
	)
	switch {
	case errors.As(err, &se):
		return ReasonTooLarge
	case errors.As(err, &de):
		switch de.Format {
		case "json":
			return ReasonMalformedJSON
		case "protobuf":
			return ReasonMalformedProtobuf
		}
		return ReasonContentType
	case errors.As(err, &fe):
		field, _, _ := strings.Cut(fe.Field, "[") // tenants[2] -> tenants: codes stay few
		if fe.Reason == "required" {
			return "missing_" + field
		}
		return "invalid_" + field
	}
	return ReasonInvalid
}
