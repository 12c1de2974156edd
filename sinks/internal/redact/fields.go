package redact

import (
	"fmt"
	"strings"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// unredactable are the fields that identify and place an event: without
// them it could not be routed, named in S3 or deduplicated.
var unredactable = map[string]bool{"id": true, "projectId": true, "action": true, "occurred": true}

// CheckField checks a redaction field name: an event field by its JSON
// name (remoteAddress, loginIds, ...) or data.<key>[.<key>...]. Loading the
// pipeline file with it (config.WithRedactFields) reports a bad name at
// its line.
func CheckField(name string) error {
	if rest, ok := strings.CutPrefix(name, "data."); ok {
		for _, k := range strings.Split(rest, ".") {
			if k == "" {
				return fmt.Errorf("bad field %q: empty key in the data path", name)
			}
		}
		return nil
	}
	fd := (&auditv1.Event{}).ProtoReflect().Descriptor().Fields().ByJSONName(name)
	switch {
	case fd == nil:
		return fmt.Errorf("unknown field %q (use the JSON name, such as remoteAddress, or data.<key>)", name)
	case unredactable[name]:
		return fmt.Errorf("field %q cannot be redacted: it identifies or places the event", name)
	case name == "data":
		return fmt.Errorf("redact entries of data by key (data.<key>), not data as a whole")
	}
	return nil
}
