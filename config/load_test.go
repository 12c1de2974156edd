package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const valid = `kafka:
  brokers: [127.0.0.1:9092]
  sasl:
    mechanism: SCRAM-SHA-512
    username: router
    password: {env: TEST_KAFKA_PASSWORD}
topics:
  events: {partitions: 12}
router:
  commit_interval: 250ms
connectors:
  - id: s3-archive
    type: s3
    filter:
      tenants: {include: ["acme-*"], exclude: [acme-test]}
      actions: {exclude: ["Login*"]}
    redact:
      hash: [loginIds]
      salt: {env: TEST_SALT}
    s3:
      bucket: audit-archive
      endpoint: http://127.0.0.1:9000
      path_style: true
      credentials:
        source: static
        access_key_id: {env: TEST_AK}
        secret_access_key: {file: SECRET_FILE}
      object_lock: {mode: compliance, days: 365}
  - id: dd-prod
    type: datadog
    filter:
      tenantless: true
    batch: {max_age: 1s}
    datadog:
      site: datadoghq.eu
      api_key: {env: TEST_DD_KEY}
      tags: [env:prod]
`

func setSecrets(t *testing.T) string {
	t.Helper()
	for _, k := range []string{"TEST_KAFKA_PASSWORD", "TEST_SALT", "TEST_AK", "TEST_DD_KEY"} {
		t.Setenv(k, "s3cr3t-"+k)
	}
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("very-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadValid(t *testing.T) {
	f := setSecrets(t)
	p, err := Parse("pipeline.yaml", []byte(strings.ReplaceAll(valid, "SECRET_FILE", f)), testDests)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := p.Topics.Events.Partitions, int32(12); got != want {
		t.Errorf("events partitions: got %d, want %d", got, want)
	}
	if got, want := p.Topics.DLQ.Name, DefaultDLQTopic; got != want {
		t.Errorf("dlq name: got %q, want %q", got, want)
	}
	if got, want := p.Topics.Heads, (Topic{Name: DefaultHeadsTopic, Partitions: 1}); got != want {
		t.Errorf("heads topic: got %+v, want %+v", got, want)
	}
	if got, want := p.Topics.State, (Topic{Name: DefaultStateTopic, Partitions: 1}); got != want {
		t.Errorf("state topic: got %+v, want %+v", got, want)
	}
	if got, want := p.Router.CommitInterval.D(), 250*time.Millisecond; got != want {
		t.Errorf("commit interval: got %v, want %v", got, want)
	}
	if got, want := p.ConnectorTopic("dd-prod"), "audit.connector.dd-prod"; got != want {
		t.Errorf("connector topic: got %q, want %q", got, want)
	}
	dd, ok := p.Connector("dd-prod")
	if !ok {
		t.Fatal("connector dd-prod missing")
	}
	if got, want := dd.Batch.MaxAge.D(), time.Second; got != want {
		t.Errorf("dd-prod max_age: got %v, want %v", got, want)
	}
	s3, _ := p.Connector("s3-archive")
	if got, want := s3.Batch.MaxAge.D(), 10*time.Second; got != want {
		t.Errorf("s3 default max_age: got %v, want %v", got, want)
	}
	v, err := s3.Settings.(*fakeS3).Credentials.SecretAccessKey.Resolve()
	if err != nil || v != "very-secret" {
		t.Errorf("file secret: got %q, %v; want the file's content without the newline", v, err)
	}
	opts, err := p.Kafka.ClientOpts()
	if err != nil || len(opts) != 3 {
		t.Errorf("ClientOpts: got %d opts, %v; want 3 (seeds, client id, sasl)", len(opts), err)
	}
}

func TestLoadErrors(t *testing.T) {
	f := setSecrets(t)
	base := strings.ReplaceAll(valid, "SECRET_FILE", f)
	tests := []struct {
		name string
		edit func(string) string
		want string // file:line: message fragment
	}{
		{"salt required to hash", func(s string) string { return strings.Replace(s, "salt: {env: TEST_SALT}", "", 1) }, "pipeline.yaml:18: connectors[0].redact.salt: a secret reference {env: NAME} or {file: PATH} is required"},
		{"duplicate id", func(s string) string { return strings.Replace(s, "id: dd-prod", "id: s3-archive", 1) }, `pipeline.yaml:29: connectors[1].id: duplicate connector id "s3-archive" (also connectors[0])`},
		{"bad glob", func(s string) string { return strings.Replace(s, `"Login*"`, `"Login["`, 1) }, `pipeline.yaml:16: connectors[0].filter.actions.exclude[0]: bad glob "Login["`},
		{"bad duration", func(s string) string { return strings.Replace(s, "250ms", "soon", 1) }, `pipeline.yaml:10: bad duration "soon"`},
		{"commit interval past the transaction timeout", func(s string) string { return strings.Replace(s, "250ms", "30s", 1) }, "pipeline.yaml:10: router.commit_interval: at most 5s"},
		{"no brokers", func(s string) string { return strings.Replace(s, "[127.0.0.1:9092]", "[]", 1) }, "pipeline.yaml:2: kafka.brokers: at least one broker is required"},
		{"syntax", func(s string) string { return strings.Replace(s, "  brokers:", "brokers:\n  - x\n -", 1) }, "pipeline.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("pipeline.yaml", []byte(tt.edit(base)), testDests)
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "very-secret") {
				t.Errorf("error leaks a secret: %q", err)
			}
		})
	}
}

// TestCheckSecrets: loading resolves no secret; CheckSecrets resolves
// exactly those of its scope, and reports each that does not resolve at
// its line.
func TestCheckSecrets(t *testing.T) {
	src := strings.ReplaceAll(valid, "SECRET_FILE", "/nonexistent/key") + "admin:\n  token: {env: TEST_ADMIN_TOKEN}\n"
	p, err := Parse("p.yaml", []byte(src), testDests)
	if err != nil {
		t.Fatalf("Parse with no secret set: got %v, want no error: loading resolves nothing", err)
	}
	var (
		kafka = "6: kafka.sasl.password: environment variable TEST_KAFKA_PASSWORD is not set"
		admin = "39: admin.token: environment variable TEST_ADMIN_TOKEN is not set"
		salt  = "19: connectors[0].redact.salt: environment variable TEST_SALT is not set"
		ak    = "26: connectors[0].s3.credentials.access_key_id: environment variable TEST_AK is not set"
		sk    = "27: connectors[0].s3.credentials.secret_access_key: secret file /nonexistent/key: no such file or directory"
		dd    = "36: connectors[1].datadog.api_key: environment variable TEST_DD_KEY is not set"
	)
	for _, tt := range []struct {
		name  string
		scope SecretScope
		want  []string
	}{
		{"nothing", SecretScope{}, nil},
		{"kafka", SecretScope{Kafka: true}, []string{kafka}},
		{"admin", SecretScope{Admin: true}, []string{admin}},
		{"kafka and admin (the router)", SecretScope{Kafka: true, Admin: true}, []string{kafka, admin}},
		{"an s3 connector", SecretScope{Connectors: []string{"s3-archive"}}, []string{salt, ak, sk}},
		{"a datadog connector (a sink)", SecretScope{Kafka: true, Admin: true, Connectors: []string{"dd-prod"}}, []string{kafka, dd, admin}},
		{"every secret", p.AllSecrets(), []string{kafka, salt, ak, sk, dd, admin}},
		{"an unknown connector", SecretScope{Connectors: []string{"nope"}}, []string{`0: no connector "nope"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, p.CheckSecrets(tt.scope), tt.want)
		})
	}

	// Only the scope's secrets set: the check passes whatever the others.
	t.Setenv("TEST_DD_KEY", "s3cr3t")
	if err := p.CheckSecrets(SecretScope{Connectors: []string{"dd-prod"}}); err != nil {
		t.Errorf("dd-prod with its key set: got %v, want no error", err)
	}
	// A pipeline built by hand has no references to check.
	if err := (&Pipeline{}).CheckSecrets(SecretScope{Kafka: true}); err != nil {
		t.Errorf("hand-built pipeline: got %v, want no error", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Setenv("TEST_DD_KEY", "s3cr3t")
	s := Secret{Env: "TEST_DD_KEY"}
	if got := s.String(); strings.Contains(got, "s3cr3t") || got != "env:TEST_DD_KEY" {
		t.Errorf("String: got %q, want the reference only", got)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"1048576", 1 << 20, false}, {"1MiB", 1 << 20, false}, {"5MB", 5_000_000, false}, {"512KiB", 512 << 10, false},
		{"12 KB", 12_000, false}, {"lots", 0, true}, {"-1", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q): got %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
