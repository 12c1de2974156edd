package record

import (
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// jsonStrict refuses fields this schema does not know.
var jsonStrict = protojson.UnmarshalOptions{}

// UnmarshalJSON decodes a JSON value as Unmarshal does, accepting fields
// this schema does not know, and reports whether it had any, so that a
// reader can count them: a misspelt field ("tenant" for "tenants") is
// accepted too, and would otherwise go unnoticed.
//
// The common forms are decoded by hand (unjson.go). protojson decodes the
// others strictly first, and again, leniently, only when that fails: an
// event without unknown fields costs one decode.
func UnmarshalJSON(value []byte) (ev *auditv1.Event, unknown bool, err error) {
	if ev, unknown, ok := unmarshalJSONEvent(value); ok {
		return ev, unknown, nil
	}
	ev = new(auditv1.Event)
	if jsonStrict.Unmarshal(value, ev) == nil {
		return ev, false, nil
	}
	ev = new(auditv1.Event)
	if err := jsonIn.Unmarshal(value, ev); err != nil {
		return nil, false, &DecodeError{Format: "json", Err: err}
	}
	return ev, true, nil
}
