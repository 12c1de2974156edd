//go:build integration

package s3sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

func TestCheck(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	dir := t.TempDir()
	secretFile := func(name, value string) config.Secret {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return config.Secret{File: path}
	}
	const wrongSecret = "wr0ng-s3cret-Vx9QpL2m"
	tests := []struct {
		name         string
		edit         func(c *Config)
		want         []string // substrings of the error; none: no error
		unauthorized bool
	}{
		{"ok", func(*Config) {}, nil, false},
		{"wrong secret key", func(c *Config) {
			c.Credentials.SecretAccessKey = secretFile("secret", wrongSecret)
		}, []string{"access denied", bucket, "check credentials"}, true},
		{"unknown access key", func(c *Config) {
			c.Credentials.AccessKeyID = secretFile("id", "AKIANOSUCHKEY0000000")
			c.Credentials.SecretAccessKey = secretFile("secret2", wrongSecret)
		}, []string{"access denied", bucket, "check credentials"}, true},
		{"missing bucket", func(c *Config) { c.Bucket = "no-such-bucket-" + bucket }, []string{"bucket no-such-bucket-" + bucket + " does not exist"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := m.connector("check", bucket, "p")
			tt.edit(c.Settings.(*Config))
			w := newWriter(t, c)
			err := w.Check(t.Context())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check: got no error, want one mentioning %q", tt.want)
			}
			t.Logf("Check: %v", err)
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Check: got %q, want it to mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), wrongSecret) {
				t.Errorf("Check: the error holds the secret: %q", err)
			}
			if got := sink.IsUnauthorized(err); got != tt.unauthorized {
				t.Errorf("Check: IsUnauthorized = %v, want %v", got, tt.unauthorized)
			}
			if tt.unauthorized {
				// Writes fail the same way, marked for the runtime.
				_, err := w.Write(t.Context(), batchOf(0, 0, sampleItems(10, 0, 1)))
				if !sink.IsUnauthorized(err) || strings.Contains(err.Error(), wrongSecret) {
					t.Errorf("Write: got %v, want an UnauthorizedError without the secret", err)
				}
			}
		})
	}
}

// TestCheckLeavesNoProbe: a successful Check deletes its probe when the
// credentials may.
func TestCheckLeavesNoProbe(t *testing.T) {
	m := localMinio(t)
	w := newWriter(t, m.connector("probe", m.newBucket(t, false), "p"))
	if err := w.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	out, err := w.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		t.Errorf("object left after Check: %s", aws.ToString(o.Key))
	}
}
