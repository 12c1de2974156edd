package ddsink

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditstream/auditstream/config"
)

// Config is a Datadog connector's block of the pipeline file (datadog:).
// This package owns it: its keys, defaults, checks and secret
// (Destination).
type Config struct {
	// Site is one of Sites.
	Site string `yaml:"site"`
	// URL overrides Site with a full base URL (tests, proxies).
	URL      string        `yaml:"url"`
	APIKey   config.Secret `yaml:"api_key"`
	Service  string        `yaml:"service"`
	Source   string        `yaml:"ddsource"`
	Hostname string        `yaml:"hostname"`
	Tags     []string      `yaml:"tags"`
	// CompressionLevel is the gzip level of the requests, 1 (fastest) to 9
	// (smallest); default 6, the Datadog Agent's for gzip. Datadog bills
	// logs by their uncompressed size: the level trades the sink's CPU for
	// the bytes that leave the network.
	CompressionLevel int `yaml:"compression_level"`
	// MaxRetryWait caps the wait the intake asks for in Retry-After or
	// X-RateLimit-Reset before a failed request is retried; default
	// DefaultMaxRetryWait, from MinMaxRetryWait to MaxMaxRetryWait.
	MaxRetryWait config.Duration `yaml:"max_retry_wait"`
}

// Sites are the Datadog sites the sink knows by name.
var Sites = []string{"datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"}

// Datadog's intake limits: 1000 entries and 5 MB uncompressed per request.
// The sink never exceeds them, whatever the file says.
const (
	MaxEntries = 1000
	MaxBytes   = 5_000_000
)

// DefaultCompressionLevel is the default gzip level of the requests
// (Config.CompressionLevel).
const DefaultCompressionLevel = 6

// DefaultMaxRetryWait is the default ceiling of the wait an intake may ask
// for (Config.MaxRetryWait). A rate limit resets within its period, which
// Datadog keeps short; a wait longer than that comes from a proxy or a bad
// header, and parks the partition, not ready, well after the intake is back
// (a Retry-After of a day would stop it for a day). Five minutes honours any
// sane rate limit, and one request every five minutes costs a limited
// intake nothing.
const DefaultMaxRetryWait = 5 * time.Minute

// The bounds of Config.MaxRetryWait. The headers count whole seconds, so a
// ceiling under one second ignores every rate limit; one over an hour is
// the long park the ceiling exists to prevent.
const (
	MinMaxRetryWait = time.Second
	MaxMaxRetryWait = time.Hour
)

// Destination decodes and checks the datadog blocks of a pipeline file:
// pass it to config.Load (config.WithDestinations).
type Destination struct{}

// Type is datadog.
func (Destination) Type() config.ConnectorType { return config.TypeDatadog }

// Decode decodes, defaults and checks the connector's datadog block and
// its batch limits (the intake's), and registers its API key as the
// connector's secret.
func (Destination) Decode(b *config.Block) {
	var d Config
	if !b.Decode(&d) {
		return
	}
	d.applyDefaults()
	d.check(b.At)
	b.Secret(d.APIKey, true, "api_key")
	c := b.Connector()
	bt := &c.Batch
	if bt.MaxEvents == 0 {
		bt.MaxEvents = MaxEntries
	}
	if bt.MaxBytes == 0 {
		bt.MaxBytes = 4_500_000 // headroom under 5 MB for the JSON array framing
	}
	if bt.MaxAge == 0 {
		bt.MaxAge = config.Duration(2 * time.Second)
	}
	if bt.MaxEvents > MaxEntries {
		b.AtConnector(fmt.Sprintf("%d is over the intake's limit of %d entries per request", bt.MaxEvents, MaxEntries), "batch", "max_events")
	}
	if bt.MaxBytes > MaxBytes {
		b.AtConnector(fmt.Sprintf("%d is over the intake's limit of %d bytes per request", bt.MaxBytes, MaxBytes), "batch", "max_bytes")
	}
	c.Settings = &d
}

func (d *Config) applyDefaults() {
	if d.Site == "" && d.URL == "" {
		d.Site = "datadoghq.com"
	}
	if d.Source == "" {
		d.Source = "auditstream"
	}
	if d.Service == "" {
		d.Service = "auditstream"
	}
	if d.CompressionLevel == 0 {
		d.CompressionLevel = DefaultCompressionLevel
	}
	if d.MaxRetryWait == 0 {
		d.MaxRetryWait = config.Duration(DefaultMaxRetryWait)
	}
}

// check reports each bad value of a defaulted block at its key: at the
// file's line when the file is loaded, as New's error for a block built
// by hand.
func (d *Config) check(at func(msg string, where ...any)) {
	if d.URL != "" {
		if _, err := urlEndpoint(d.URL); err != nil {
			at(err.Error(), "url")
		}
	} else if !slices.Contains(Sites, d.Site) {
		at(fmt.Sprintf("unknown site %q (want one of %s, or a url)", d.Site, strings.Join(Sites, ", ")), "site")
	}
	for j, t := range d.Tags {
		if t == "" || strings.ContainsAny(t, ", ") {
			at(fmt.Sprintf("bad tag %s: no commas or spaces", strconv.Quote(t)), "tags", j)
		}
	}
	if l := d.CompressionLevel; l < 1 || l > 9 {
		at(fmt.Sprintf("%d is not a gzip level (1 to 9)", l), "compression_level")
	}
	if w := d.MaxRetryWait.D(); w < MinMaxRetryWait || w > MaxMaxRetryWait {
		at(fmt.Sprintf("%v is out of range (%v to %v)", w, MinMaxRetryWait, MaxMaxRetryWait), "max_retry_wait")
	}
}

// ConfigOf is the connector's datadog block, as Destination decoded it (or
// a test set it).
func ConfigOf(c *config.Connector) (*Config, bool) {
	if c == nil {
		return nil, false
	}
	d, ok := c.Settings.(*Config)
	return d, ok && d != nil
}
