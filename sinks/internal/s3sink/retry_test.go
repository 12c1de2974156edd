package s3sink

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// TestFailuresReachTheRuntime: the SDK retries a little, then hands the
// error to the runtime, marked unauthorized when only an operator can fix
// it. The store is a stub that fails every request.
func TestFailuresReachTheRuntime(t *testing.T) {
	const secret = "stub-secret-Qz81"
	t.Setenv("S3SINK_TEST_KEY_ID", "stub-key")
	t.Setenv("S3SINK_TEST_SECRET", secret)
	tests := []struct {
		name         string
		status       int
		code         string
		wantRequests int64
		unauthorized bool
	}{
		{"throttled", http.StatusServiceUnavailable, "SlowDown", sdkMaxAttempts, false},
		{"server error", http.StatusInternalServerError, "InternalError", sdkMaxAttempts, false},
		{"access denied", http.StatusForbidden, "AccessDenied", 1, true},
		{"bad signature", http.StatusForbidden, "SignatureDoesNotMatch", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte("<Error><Code>" + tt.code + "</Code><Message>stub</Message></Error>"))
			}))
			defer srv.Close()
			c := &config.Connector{ID: "c", Type: config.TypeS3, Settings: &Config{
				Bucket: "bucket", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true,
				Credentials: Credentials{Source: "static",
					AccessKeyID: config.Secret{Env: "S3SINK_TEST_KEY_ID"}, SecretAccessKey: config.Secret{Env: "S3SINK_TEST_SECRET"}},
				Encryption: Encryption{Mode: "none"},
			}}
			w, err := New(t.Context(), Options{Connector: c})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = w.Write(t.Context(), batchOf(0, 0, sampleItems(5, 0, 1)))
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("Write: got no error")
			}
			var more *sink.NeedMoreError
			if got := sink.IsUnauthorized(err); got != tt.unauthorized || errors.As(err, &more) {
				t.Errorf("Write: got %v (unauthorized %v), want unauthorized %v", err, got, tt.unauthorized)
			}
			if got := requests.Load(); got != tt.wantRequests {
				t.Errorf("requests: got %d, want %d", got, tt.wantRequests)
			}
			if elapsed > time.Duration(sdkMaxAttempts)*sdkMaxBackoff {
				t.Errorf("Write took %v; the SDK's retries should end within %v", elapsed, time.Duration(sdkMaxAttempts)*sdkMaxBackoff)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
}
