package record

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

func TestReason(t *testing.T) {
	valid := func() *auditv1.Event {
		return &auditv1.Event{Id: "e1", ProjectId: "P1", Action: "LoginSucceed", Occurred: timestamppb.New(time.Unix(1, 0))}
	}
	_, jsonErr := Unmarshal([]byte(`{"projectId":`), ContentTypeJSON)
	_, protoErr := Unmarshal([]byte("\xff\xff\xff"), ContentTypeProtobuf)
	_, csvErr := Unmarshal([]byte("a,b"), "text/csv")
	noProject := valid()
	noProject.ProjectId = ""
	badTenant := valid()
	badTenant.Tenants = []string{"ok", "bad\ntenant"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{CheckSize(10, 5), ReasonTooLarge},
		{fmt.Errorf("wrapped: %w", CheckSize(10, 5)), ReasonTooLarge},
		{jsonErr, ReasonMalformedJSON},
		{protoErr, ReasonMalformedProtobuf},
		{csvErr, ReasonContentType},
		{Validate(noProject), "missing_projectId"},
		{Validate(badTenant), "invalid_tenants"},
		{fmt.Errorf("something else"), ReasonInvalid},
	} {
		if c.err == nil {
			t.Fatalf("want an error for %s", c.want)
		}
		if got := Reason(c.err); got != c.want {
			t.Errorf("Reason(%v) = %q; want %q", c.err, got, c.want)
		}
	}
}
