package workload

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// kcat reads one record per line, key and value split at a tab: a bad
// record's bytes must hold neither, or kcat would send other records than
// the ledger says.
func TestBadRecordsSurviveKcatLines(t *testing.T) {
	for n, kind := range badKinds {
		r := kind(n+1, 2000)
		if bytes.ContainsAny(r.value, "\n\t") || bytes.ContainsAny([]byte(r.Key), "\n\t") {
			t.Errorf("%s: value or key holds a newline or a tab: %q", r.Kind, r.value)
		}
		if r.Reason == "" || r.Key == "" {
			t.Errorf("%s: no key or reason: %+v", r.Kind, r.Bad)
		}
	}
}

func TestMalformedProtobufDoesNotDecode(t *testing.T) {
	for n, kind := range badKinds {
		r := kind(n+1, 10)
		if r.Kind != "malformed-protobuf" {
			continue
		}
		var ev auditv1.Event
		if err := proto.Unmarshal(r.value, &ev); err == nil {
			t.Errorf("got %q decoded as %v, want an error", r.value, &ev)
		}
	}
}
