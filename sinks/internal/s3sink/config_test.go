package s3sink

import (
	"strings"
	"testing"

	"github.com/auditstream/auditstream/config"
)

const s3Pipeline = `kafka: {brokers: [127.0.0.1:1]}
connectors:
  - id: arch
    type: s3
    s3:
      bucket: audit-archive
      endpoint: http://127.0.0.1:9000
      path_style: true
      credentials:
        source: static
        access_key_id: {env: TEST_AK}
        secret_access_key: {file: /nonexistent/key}
      object_lock: {mode: compliance, days: 365}
`

// TestDestination: the s3 block's defaults and checks, each problem at its
// line of the file, and its secrets the connector's.
func TestDestination(t *testing.T) {
	p, err := config.Parse("p.yaml", []byte(s3Pipeline), config.WithDestinations(Destination{}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, ok := ConfigOf(&p.Connectors[0])
	if !ok {
		t.Fatalf("settings: got %#v, want a *Config", p.Connectors[0].Settings)
	}
	if s.Region != "us-east-1" || s.Encryption.Mode != "none" || s.ObjectLock.Days != 365 {
		t.Errorf("got %+v, want the defaults region us-east-1, encryption none, and the lock's 365 days", s)
	}
	err = p.CheckSecrets(config.SecretScope{Connectors: []string{"arch"}})
	for _, want := range []string{
		"p.yaml:11: connectors[0].s3.credentials.access_key_id: environment variable TEST_AK is not set",
		"p.yaml:12: connectors[0].s3.credentials.secret_access_key: secret file /nonexistent/key: no such file or directory",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSecrets: got %v, want %q", err, want)
		}
	}
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "path_style: true", "path_stile: true", `p.yaml:8: unknown key "path_stile"`},
		{"bad bucket", "audit-archive", "ab", `p.yaml:6: connectors[0].s3.bucket: bad bucket name "ab"`},
		{"bad endpoint", "http://127.0.0.1:9000", "127.0.0.1:9000", `p.yaml:7: connectors[0].s3.endpoint: bad endpoint "127.0.0.1:9000"`},
		{"bad source", "source: static", "source: instance", `p.yaml:10: connectors[0].s3.credentials.source: unknown source "instance"`},
		{"static without a key", "        access_key_id: {env: TEST_AK}\n", "", "p.yaml:10: connectors[0].s3.credentials.access_key_id: a secret reference"},
		{"bad lock mode", "mode: compliance", "mode: forever", `p.yaml:13: connectors[0].s3.object_lock.mode: unknown mode "forever"`},
		{"kms without a key", "path_style: true", "path_style: true\n      encryption: {mode: sse-kms}", "p.yaml:9: connectors[0].s3.encryption: sse-kms needs kms_key_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("p.yaml", []byte(strings.Replace(s3Pipeline, tt.old, tt.new, 1)), config.WithDestinations(Destination{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
