package record

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshalJSON feeds the JSON decoding of events arbitrary values, as
// kcat or a Python producer might send them. It must never panic, and an
// event it accepts must survive the trip the router makes of it: encoded
// again, as JSON and as protobuf, it decodes to the same event. Validate
// must not panic on anything decoded.
func FuzzUnmarshalJSON(f *testing.F) {
	f.Add([]byte(`{"projectId":"P1","action":"UserCreated","tenants":["acme"],"occurred":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"project_id":"P1","action":"A","login_ids":["x"],"data":{"k":[1,"2",{"z":null}]}}`))
	f.Add([]byte(`{"projectId":"P1","tenant":"acme","unknown":{"deep":[1,2]}}`))
	f.Add([]byte(`{"occurred":"10000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"data":{"a":1e400}}`))
	f.Add([]byte("{\"action\":\"\\ud800\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Unmarshal(b, ContentTypeJSON)
		if err != nil {
			if Reason(err) != ReasonMalformedJSON {
				t.Fatalf("a JSON decode error has reason %s: %v", Reason(err), err)
			}
			return
		}
		_ = Validate(ev)
		for _, enc := range []Encoding{JSON, Protobuf} {
			r, err := Marshal(ev, enc)
			if err != nil {
				// The JSON decoder keeps what protojson takes; encoding
				// that back must not fail.
				t.Fatalf("decoded event does not encode as %v: %v", enc, err)
			}
			back, err := Decode(r)
			if err != nil {
				t.Fatalf("event encoded as %v does not decode: %v", enc, err)
			}
			if !proto.Equal(ev, back) {
				t.Fatalf("round trip as %v changed the event:\n%v\n%v", enc, ev, back)
			}
		}
	})
}
