package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// strictJSON refuses fields the schema does not know. record.Unmarshal
// discards them, so that a router never dead-letters a newer producer's
// events; but in a file a person wrote, "tenant" for "tenants" is a typo,
// and publishing the event without it would make a tenantless event.
// protojson accepts the camelCase and the snake_case names alike.
var strictJSON = protojson.UnmarshalOptions{}

// decodeLine decodes one NDJSON line. Unless allowUnknown, a field that the
// schema does not know makes the line an error that names the field.
func decodeLine(line []byte, allowUnknown bool) (*auditv1.Event, error) {
	if allowUnknown {
		return record.Unmarshal(line, record.ContentTypeJSON)
	}
	ev := new(auditv1.Event)
	strictErr := strictJSON.Unmarshal(line, ev)
	if strictErr == nil {
		return ev, nil
	}
	// A line that is bad anyway gets the usual message. Otherwise only
	// unknown fields tell the two decodings apart (Event has no enum,
	// whose unknown names DiscardUnknown would also let through).
	if _, err := record.Unmarshal(line, record.ContentTypeJSON); err != nil {
		return nil, err
	}
	const hint = "; --allow-unknown-fields publishes such lines without them"
	names := unknownFields(line, ev.ProtoReflect().Descriptor())
	if len(names) == 0 { // not at the top level: protojson's message says where
		return nil, fmt.Errorf("%v%s", strictErr, hint)
	}
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
		if s := suggest(n, ev.ProtoReflect().Descriptor()); s != "" {
			names[i] += fmt.Sprintf(" (did you mean %q?)", s)
		}
	}
	word := "field"
	if len(names) > 1 {
		word = "fields"
	}
	return nil, fmt.Errorf("unknown %s %s%s", word, strings.Join(names, ", "), hint)
}

// unknownFields lists, in order, the top-level keys of a JSON object that
// name no field of md.
func unknownFields(line []byte, md protoreflect.MessageDescriptor) []string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return names
		}
		key, _ := t.(string)
		if md.Fields().ByJSONName(key) == nil && md.Fields().ByTextName(key) == nil {
			names = append(names, key)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return names
		}
	}
	return names
}

// suggest returns the JSON name of md's field nearest to name, ignoring
// case and underscores, within two edits; "" when none is that near.
func suggest(name string, md protoreflect.MessageDescriptor) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	best, bestDist := "", 3
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		if d := editDistance(norm(name), norm(f.JSONName())); d < bestDist {
			best, bestDist = f.JSONName(), d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
