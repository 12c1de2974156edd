package record

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

func sample(t *testing.T) *auditv1.Event {
	t.Helper()
	data, err := structpb.NewStruct(map[string]any{"email": "ada@example.com", "attempt": 3.0, "mfa": true})
	if err != nil {
		t.Fatal(err)
	}
	return &auditv1.Event{
		Id:            "0192f1d4-7c1e-7cc2-8b1a-3a9f0e1d2c3b",
		ProjectId:     "P2abc",
		Action:        "LoginSucceed",
		Type:          "info",
		ActorId:       "U1actor",
		UserId:        "U2user",
		LoginIds:      []string{"ada@example.com"},
		Tenants:       []string{"acme", "acme-eu"},
		RemoteAddress: "203.0.113.7",
		Occurred:      timestamppb.New(time.Date(2026, 11, 25, 6, 1, 2, 345_000_000, time.UTC)),
		Device:        "Desktop",
		Method:        "otp",
		Geo:           "US",
		ExternalIds:   []string{"ext-1"},
		Data:          data,
	}
}

func TestRoundTrips(t *testing.T) {
	for _, enc := range []Encoding{Protobuf, JSON} {
		ev := sample(t)
		r, err := Marshal(ev, enc)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", enc, err)
		}
		got, err := Decode(r)
		if err != nil {
			t.Fatalf("Decode(%v): %v", enc, err)
		}
		if !proto.Equal(got, ev) {
			t.Errorf("encoding %v: got %v, want %v", enc, got, ev)
		}
		// Without the content-type header the value is detected.
		got, err = Unmarshal(r.Value, "")
		if err != nil || !proto.Equal(got, ev) {
			t.Errorf("encoding %v, detected: got %v, %v; want the event", enc, got, err)
		}
	}
}

func TestJSONFieldNames(t *testing.T) {
	b, err := protojson.Marshal(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "projectId", "action", "type", "actorId", "userId", "loginIds", "tenants",
		"remoteAddress", "occurred", "device", "method", "geo", "externalIds", "data"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no field %q; got %s", k, b)
		}
	}
	if got, want := len(m), len(want); got != want {
		t.Errorf("JSON has %d fields, want %d: %s", got, want, b)
	}
	if got, want := m["occurred"], "2026-11-25T06:01:02.345Z"; got != want {
		t.Errorf("occurred: got %v, want %v", got, want)
	}
	// The protobuf field names are accepted too, as kcat users may write them.
	ev, err := Unmarshal([]byte(`{"project_id":"P1","action":"UserCreated","occurred":"2026-01-01T00:00:00Z","remote_address":"::1","unknownFutureField":1}`), ContentTypeJSON)
	if err != nil {
		t.Fatalf("Unmarshal snake_case: %v", err)
	}
	if ev.GetProjectId() != "P1" || ev.GetRemoteAddress() != "::1" {
		t.Errorf("snake_case: got %v", ev)
	}
}

func TestHeadersAndKey(t *testing.T) {
	r, err := Marshal(sample(t), Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(r.Key), "P2abc/acme"; got != want {
		t.Errorf("key: got %q, want %q", got, want)
	}
	m, ok := MetaFromHeaders(r.Headers)
	if !ok {
		t.Fatal("MetaFromHeaders: not ok")
	}
	if m.Project != "P2abc" || m.Action != "LoginSucceed" || strings.Join(m.Tenants, ",") != "acme,acme-eu" {
		t.Errorf("meta: got %+v", m)
	}
	if got := HeaderValue(r.Headers, HeaderContentType); got != ContentTypeProtobuf {
		t.Errorf("content-type: got %q, want %q", got, ContentTypeProtobuf)
	}
	if _, ok := MetaFromHeaders(r.Headers[:1]); ok {
		t.Error("MetaFromHeaders without project/action: got ok, want not ok")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, ct, value, format string
	}{
		{"bad json", ContentTypeJSON, `{"projectId":`, "json"},
		{"json wrong type", "", `{"tenants":"acme"}`, "json"},
		{"bad protobuf", ContentTypeProtobuf, "\xff\xff\xff", "protobuf"},
		{"unknown content type", "text/csv", "a,b", "text/csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.value), tt.ct)
			var de *DecodeError
			if !errors.As(err, &de) || de.Format != tt.format {
				t.Errorf("got %v, want a DecodeError of format %q", err, tt.format)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*auditv1.Event)
		field string // "" means valid
	}{
		{"valid", func(*auditv1.Event) {}, ""},
		{"empty id is fine", func(e *auditv1.Event) { e.Id = "" }, ""},
		{"project-level event", func(e *auditv1.Event) { e.Tenants = nil }, ""},
		{"missing project", func(e *auditv1.Event) { e.ProjectId = "" }, "projectId"},
		{"project with slash", func(e *auditv1.Event) { e.ProjectId = "a/b" }, "projectId"},
		{"project dotdot", func(e *auditv1.Event) { e.ProjectId = ".." }, "projectId"},
		{"missing action", func(e *auditv1.Event) { e.Action = "" }, "action"},
		{"action with space", func(e *auditv1.Event) { e.Action = "Login Succeed" }, "action"},
		{"action too long", func(e *auditv1.Event) { e.Action = strings.Repeat("a", 129) }, "action"},
		{"missing occurred", func(e *auditv1.Event) { e.Occurred = nil }, "occurred"},
		{"invalid occurred", func(e *auditv1.Event) { e.Occurred = &timestamppb.Timestamp{Nanos: -1} }, "occurred"},
		{"bad type", func(e *auditv1.Event) { e.Type = "fatal" }, "type"},
		{"empty tenant", func(e *auditv1.Event) { e.Tenants = []string{"acme", ""} }, "tenants[1]"},
		{"tenant with comma", func(e *auditv1.Event) { e.Tenants = []string{"a,b"} }, "tenants[0]"},
		{"tenant with newline", func(e *auditv1.Event) { e.Tenants = []string{"a\nb"} }, "tenants[0]"},
		{"tenant bad utf8", func(e *auditv1.Event) { e.Tenants = []string{"\xff"} }, "tenants[0]"},
		{"tenant too long", func(e *auditv1.Event) { e.Tenants = []string{strings.Repeat("t", 257)} }, "tenants[0]"},
		{"id with control", func(e *auditv1.Event) { e.Id = "a\x00b" }, "id"},
		{"id with delete", func(e *auditv1.Event) { e.Id = "a\x7fb" }, "id"},
		{"tenant beyond ascii", func(e *auditv1.Event) { e.Tenants = []string{"société-générale", "日本"} }, ""},
		{"comma after non-ascii", func(e *auditv1.Event) { e.Tenants = []string{"é,b"} }, "tenants[0]"},
		{"c1 control", func(e *auditv1.Event) { e.Tenants = []string{"a\u0085b"} }, "tenants[0]"},
		{"bad utf8 after ascii", func(e *auditv1.Event) { e.Id = "abc\xe2\x80" }, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sample(t)
			tt.edit(ev)
			err := Validate(ev)
			if tt.field == "" {
				if err != nil {
					t.Errorf("got %v, want valid", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError on %s", err, tt.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
		})
	}
}

func TestCheckSize(t *testing.T) {
	if err := CheckSize(10, 10); err != nil {
		t.Errorf("at the limit: got %v, want nil", err)
	}
	err := CheckSize(11, 10)
	var se *SizeError
	if !errors.As(err, &se) || se.Size != 11 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: got %v, want a SizeError that is ErrTooLarge", err)
	}
}

func TestDeadLetter(t *testing.T) {
	src := &kgo.Record{Topic: "audit.events", Partition: 3, Offset: 1234, Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: HeaderProject, Value: []byte("P1")}}}
	d := DeadLetter(src, "audit.dlq", "router", "malformed_json", errors.New("decode json: unexpected EOF"), 0)
	want := map[string]string{
		HeaderDLQStage: "router", HeaderDLQReason: "malformed_json", HeaderDLQError: "decode json: unexpected EOF",
		HeaderDLQTopic: "audit.events", HeaderDLQPartition: "3", HeaderDLQOffset: "1234", HeaderProject: "P1",
	}
	for k, v := range want {
		if got := HeaderValue(d.Headers, k); got != v {
			t.Errorf("header %s: got %q, want %q", k, got, v)
		}
	}
	if d.Topic != "audit.dlq" || string(d.Value) != "v" || string(d.Key) != "k" {
		t.Errorf("got topic %q key %q value %q; want audit.dlq, the original key and value", d.Topic, d.Key, d.Value)
	}
}
