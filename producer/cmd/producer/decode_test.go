package main

import (
	"strings"
	"testing"
)

func TestDecodeLine(t *testing.T) {
	for _, tc := range []struct {
		name         string
		line         string
		allowUnknown bool
		wantTenants  int
		wantErr      []string // substrings of the error; nil: no error
	}{
		{"camelCase", `{"projectId": "P1", "actorId": "u", "tenants": ["acme"]}`, false, 1, nil},
		{"snake_case", `{"project_id": "P1", "actor_id": "u", "login_ids": ["l"], "tenants": ["acme"]}`, false, 1, nil},
		{"data holds any field", `{"projectId": "P1", "data": {"tenant": "acme"}}`, false, 0, nil},
		{"misspelt tenants", `{"projectId": "P1", "tenant": "acme"}`, false, 0, []string{`unknown field "tenant" (did you mean "tenants"?)`, "--allow-unknown-fields"}},
		{"wrong case", `{"ProjectId": "P1"}`, false, 0, []string{`"ProjectId" (did you mean "projectId"?)`}},
		{"several, one far from any field", `{"tenant": "a", "colour": "red"}`, false, 0, []string{`unknown fields "tenant" (did you mean "tenants"?), "colour";`}},
		{"allowed", `{"projectId": "P1", "tenant": "acme"}`, true, 0, nil},
		{"bad JSON is not an unknown field", `{"projectId": "P1", "tenant": `, false, 0, []string{"json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := decodeLine([]byte(tc.line), tc.allowUnknown)
			if tc.wantErr == nil {
				if err != nil || len(ev.GetTenants()) != tc.wantTenants {
					t.Fatalf("got %v, %v; want an event with %d tenants", ev, err, tc.wantTenants)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want an error", ev)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to contain %q", err, w)
				}
			}
		})
	}
}
