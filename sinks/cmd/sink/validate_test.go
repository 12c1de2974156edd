package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditstream/auditstream/config"
)

// TestValidate: sink validate checks what sink run of the connector needs,
// its secrets included and no other connector's, and prints the effective
// batch limits: the destination's defaults where the file sets none.
func TestValidate(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(cfg, []byte(`kafka: {brokers: [127.0.0.1:1]}
connectors:
  - id: dd
    type: datadog
    datadog: {site: datadoghq.eu, api_key: {env: SINK_VALIDATE_DD}}
  - id: other
    type: datadog
    datadog: {site: datadoghq.eu, api_key: {env: SINK_VALIDATE_OTHER}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	validate := func() (int, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"validate", "--config", cfg, "--connector", "dd"}, &out, &errb, slog.New(slog.DiscardHandler))
		return code, out.String() + errb.String()
	}
	if code, out := validate(); code != 2 || !strings.Contains(out, cfg+":5: connectors[0].datadog.api_key: environment variable SINK_VALIDATE_DD is not set") {
		t.Errorf("without its key: got exit %d, %q; want 2 and the key's line", code, out)
	}
	t.Setenv("SINK_VALIDATE_DD", "k")
	want := fmt.Sprintf("batch max_events 1000, max_bytes 4500000, max_age 2s, buffer_bytes %d; group auditstream-sink-dd", config.DefaultBufferBytes)
	if code, out := validate(); code != 0 || !strings.Contains(out, want) {
		t.Errorf("with its key only: got exit %d, %q; want 0 and %q", code, out, want)
	}
}
