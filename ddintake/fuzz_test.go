package ddintake

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

// FuzzIntakeRequest sends the intake arbitrary bodies, raw and gzipped. The
// server must never panic, must answer only the documented statuses, must
// store exactly the entries of the requests it accepts, and must keep every
// stored log within the documented limits.
func FuzzIntakeRequest(f *testing.F) {
	f.Add([]byte(`[{"message":"m","ddtags":"a:b","timestamp":1764000000000}]`), false)
	f.Add([]byte(`{"message":"one"}`), true)
	f.Add([]byte(`[{"message":{"nested":[1,2]}},{"ddsource":7}]`), true)
	f.Add([]byte(`[`), false)
	f.Add([]byte("[{\"message\":\"\xff\xfe\"}]"), false)
	f.Add([]byte(`[{"timestamp":"2026-11-29T10:00:00Z"},{"timestamp":1e300}]`), true)
	limits := Limits{MaxPayloadBytes: 64 << 10, MaxEntries: 50, MaxLogBytes: 1 << 10}
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		s := New(Options{APIKeys: []string{"k"}, Limits: limits})
		req := httptest.NewRequest(http.MethodPost, "/api/v2/logs", bytes.NewReader(body))
		req.Header.Set(apiKeyHeader, "k")
		req.Header.Set("Content-Type", "application/json")
		if gzipped {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			req = httptest.NewRequest(http.MethodPost, "/api/v2/logs", &b)
			req.Header.Set(apiKeyHeader, "k")
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		logs := s.Logs()
		switch rec.Code {
		case http.StatusAccepted:
			if len(logs) > limits.MaxEntries { // "[]" is accepted with nothing to store
				t.Fatalf("202 stored %d logs", len(logs))
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if len(logs) != 0 {
				t.Fatalf("%d stored %d logs", rec.Code, len(logs))
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for _, l := range logs {
			if len(l.Message) > limits.MaxLogBytes || !utf8.ValidString(l.Message) {
				t.Fatalf("stored a message of %d bytes (limit %d), valid UTF-8 %v", len(l.Message), limits.MaxLogBytes, utf8.ValidString(l.Message))
			}
		}
	})
}
