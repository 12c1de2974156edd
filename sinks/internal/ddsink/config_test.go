package ddsink

import (
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/config"
)

const ddPipeline = `kafka: {brokers: [127.0.0.1:1]}
connectors:
  - id: dd
    type: datadog
    batch: {max_age: 1s}
    datadog:
      site: datadoghq.eu
      api_key: {env: TEST_DD_KEY}
      tags: [env:prod]
`

// TestDestination: the datadog block's defaults and checks, each problem
// at its line of the file.
func TestDestination(t *testing.T) {
	p, err := config.Parse("p.yaml", []byte(ddPipeline), config.WithDestinations(Destination{}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := &p.Connectors[0]
	d, ok := ConfigOf(c)
	if !ok {
		t.Fatalf("settings: got %#v, want a *Config", c.Settings)
	}
	if got, want := d.CompressionLevel, DefaultCompressionLevel; got != want {
		t.Errorf("compression_level: got %d, want %d", got, want)
	}
	if got, want := d.MaxRetryWait.D(), DefaultMaxRetryWait; got != want {
		t.Errorf("max_retry_wait: got %v, want %v", got, want)
	}
	if got, want := c.Batch.MaxEvents, MaxEntries; got != want {
		t.Errorf("max_events: got %d, want %d", got, want)
	}
	if got, want := c.Batch.MaxAge.D(), time.Second; got != want {
		t.Errorf("max_age: got %v, want the file's %v", got, want)
	}
	if err := p.CheckSecrets(config.SecretScope{Connectors: []string{"dd"}}); err == nil || !strings.Contains(err.Error(), "p.yaml:8: connectors[0].datadog.api_key: environment variable TEST_DD_KEY is not set") {
		t.Errorf("CheckSecrets: got %v, want the api key at line 8", err)
	}
	add := func(line string) func(string) string {
		return func(s string) string {
			return strings.Replace(s, "tags: [env:prod]", "tags: [env:prod]\n      "+line, 1)
		}
	}
	for _, tt := range []struct {
		name string
		edit func(string) string
		want string
	}{
		{"bad site", func(s string) string { return strings.Replace(s, "datadoghq.eu", "datadoghq.moon", 1) }, `p.yaml:7: connectors[0].datadog.site: unknown site "datadoghq.moon"`},
		{"over the entries limit", func(s string) string { return strings.Replace(s, "{max_age: 1s}", "{max_events: 5000}", 1) }, "p.yaml:5: connectors[0].batch.max_events: 5000 is over the intake's limit of 1000"},
		{"over the bytes limit", func(s string) string { return strings.Replace(s, "{max_age: 1s}", "{max_bytes: 6MB}", 1) }, "p.yaml:5: connectors[0].batch.max_bytes: 6000000 is over the intake's limit"},
		{"bad compression level", add("compression_level: 10"), "p.yaml:10: connectors[0].datadog.compression_level: 10 is not a gzip level (1 to 9)"},
		{"max_retry_wait negative", add("max_retry_wait: -5s"), "p.yaml:10: connectors[0].datadog.max_retry_wait: -5s is out of range (1s to 1h0m0s)"},
		{"max_retry_wait under a second", add("max_retry_wait: 500ms"), "p.yaml:10: connectors[0].datadog.max_retry_wait: 500ms is out of range"},
		{"max_retry_wait a day", add("max_retry_wait: 24h"), "p.yaml:10: connectors[0].datadog.max_retry_wait: 24h0m0s is out of range"},
		{"max_retry_wait garbage", add("max_retry_wait: 86400"), `p.yaml:10: bad duration "86400"`},
		{"bad tag", func(s string) string { return strings.Replace(s, "[env:prod]", "[\"env prod\"]", 1) }, `p.yaml:9: connectors[0].datadog.tags[0]: bad tag "env prod"`},
		{"url with credentials", add("url: https://u:pw@intake"), `p.yaml:10: connectors[0].datadog.url: datadog url "https://u:xxxxx@intake"`},
		{"unknown key", add("api_kee: {env: X}"), `p.yaml:10: unknown key "api_kee"`},
		{"inline key", func(s string) string { return strings.Replace(s, "{env: TEST_DD_KEY}", "abcdef0123", 1) }, "p.yaml:8: secrets are never inline"},
		{"no key", func(s string) string { return strings.Replace(s, "      api_key: {env: TEST_DD_KEY}\n", "", 1) }, "p.yaml:7: connectors[0].datadog.api_key: a secret reference"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("p.yaml", []byte(tt.edit(ddPipeline)), config.WithDestinations(Destination{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), ":pw@") {
				t.Errorf("the url's password in %q", err)
			}
		})
	}
}
