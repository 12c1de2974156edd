package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

func event(t *testing.T) *auditv1.Event {
	t.Helper()
	data, err := structpb.NewStruct(map[string]any{
		"email": "ada@example.com", "attempt": 3.0,
		"client": map[string]any{"ip": "203.0.113.9", "ua": "curl"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &auditv1.Event{Id: "e1", ProjectId: "P1", Action: "LoginSucceed", UserId: "U1",
		RemoteAddress: "203.0.113.7", LoginIds: []string{"ada@example.com", "+15550100"}, Data: data}
}

func sum(salt, v string) string {
	h := sha256.Sum256([]byte(salt + v))
	return hex.EncodeToString(h[:])
}

func TestApply(t *testing.T) {
	t.Setenv("TEST_SALT", "pepper")
	rules, err := New(config.Redaction{
		Drop: []string{"userId", "data.client.ua"},
		Mask: []string{"remoteAddress", "data.email"},
		Hash: []string{"loginIds", "data.attempt"},
		Salt: config.Secret{Env: "TEST_SALT"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t)
	rules.Apply(ev)

	if ev.GetUserId() != "" {
		t.Errorf("userId: got %q, want dropped", ev.GetUserId())
	}
	if got := ev.GetRemoteAddress(); got != Mask {
		t.Errorf("remoteAddress: got %q, want %q", got, Mask)
	}
	if got, want := ev.GetLoginIds(), []string{sum("pepper", "ada@example.com"), sum("pepper", "+15550100")}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("loginIds: got %v, want %v", got, want)
	}
	f := ev.GetData().GetFields()
	if got := f["email"].GetStringValue(); got != Mask {
		t.Errorf("data.email: got %q, want %q", got, Mask)
	}
	if got, want := f["attempt"].GetStringValue(), sum("pepper", "3"); got != want {
		t.Errorf("data.attempt: got %q, want the hash of its JSON %q", got, want)
	}
	client := f["client"].GetStructValue().GetFields()
	if _, ok := client["ua"]; ok {
		t.Error("data.client.ua: still there, want dropped")
	}
	if got := client["ip"].GetStringValue(); got != "203.0.113.9" {
		t.Errorf("data.client.ip: got %q, want untouched", got)
	}
	// Nothing of a redacted value survives anywhere in the JSON form.
	b, _ := protojson.Marshal(ev)
	for _, secret := range []string{"ada@example.com", "203.0.113.7", "U1", "curl"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("JSON still contains %q: %s", secret, b)
		}
	}
	if ev.GetProjectId() != "P1" || ev.GetAction() != "LoginSucceed" || ev.GetId() != "e1" {
		t.Errorf("identifying fields changed: %v", ev)
	}
}

func TestMissingFieldsAreFine(t *testing.T) {
	rules, err := New(config.Redaction{Mask: []string{"geo", "data.nope.deeper"}, Drop: []string{"device"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := &auditv1.Event{ProjectId: "P1"}
	rules.Apply(ev)
	if ev.GetGeo() != "" || ev.GetData() != nil {
		t.Errorf("redacting absent fields created values: %v", ev)
	}
}

func TestNewRejects(t *testing.T) {
	for _, r := range []config.Redaction{
		{Drop: []string{"projectId"}},
		{Mask: []string{"nosuchfield"}},
		{Hash: []string{"userId"}, Salt: config.Secret{Env: "UNSET_SALT_FOR_TEST"}},
	} {
		if _, err := New(r); err == nil {
			t.Errorf("New(%+v): got nil error", r)
		}
	}
}

// TestCheckField: the names the loader accepts in a redact list.
func TestCheckField(t *testing.T) {
	for _, tt := range []struct {
		name, want string // want: a fragment of the error, "" for none
	}{
		{"remoteAddress", ""},
		{"loginIds", ""},
		{"data.email", ""},
		{"data.a.b", ""},
		{"email", `unknown field "email"`},
		{"remote_address", `unknown field "remote_address"`},
		{"projectId", "cannot be redacted"},
		{"id", "cannot be redacted"},
		{"data", "by key"},
		{"data..x", "empty key"},
	} {
		err := CheckField(tt.name)
		if got := fmt.Sprint(err); (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(got, tt.want)) {
			t.Errorf("CheckField(%q): got %v, want %q", tt.name, err, tt.want)
		}
	}
}
