package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// validator collects every problem of a decoded file, each with the line of
// the YAML node it concerns.
type validator struct {
	file string
	root *yaml.Node
	errs Errors
	// secrets are the secret references found, for CheckSecrets.
	secrets []secretRef
}

// at records a problem at the node found by following keys (strings) and
// indexes (ints) from the document root. When the node is absent (a
// defaulted value), the nearest present ancestor gives the line.
func (v *validator) at(msg string, where ...any) {
	n := v.root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	var name strings.Builder
	for _, w := range where {
		switch w := w.(type) {
		case string:
			if name.Len() > 0 {
				name.WriteByte('.')
			}
			name.WriteString(w)
			n = child(n, w)
		case int:
			fmt.Fprintf(&name, "[%d]", w)
			n = index(n, w)
		}
		if n != nil {
			line = n.Line
		}
	}
	if name.Len() > 0 {
		msg = name.String() + ": " + msg
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Msg: msg})
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func index(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

var (
	// Kafka's legal topic characters.
	topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	// A connector id names a topic, a consumer group and S3 objects, so it
	// is kept to characters that are safe in all three.
	connectorID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

func (v *validator) pipeline(p *Pipeline) {
	if len(p.Kafka.Brokers) == 0 {
		v.at("at least one broker is required", "kafka", "brokers")
	}
	for i, b := range p.Kafka.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			v.at(fmt.Sprintf("broker %q: want host:port", b), "kafka", "brokers", i)
		}
	}
	v.kafkaTLS(p.Kafka.TLS)
	v.kafkaSASL(p.Kafka.SASL)
	v.topic(p.Topics.Events, "events")
	v.topic(p.Topics.DLQ, "dlq")
	v.topic(p.Topics.Heads, "heads")
	v.topic(p.Topics.State, "state")
	if p.Topics.Connector.Partitions < 1 {
		v.at("partitions must be at least 1", "topics", "connector", "partitions")
	}
	if !topicName.MatchString(p.Topics.ConnectorPrefix + "x") {
		v.at(fmt.Sprintf("bad prefix %q: topic names use letters, digits, '.', '_' and '-'", p.Topics.ConnectorPrefix), "topics", "connector_prefix")
	}
	v.admin(p)
	if p.Router.CommitInterval.D() <= 0 {
		v.at("must be positive", "router", "commit_interval")
	}
	seen := map[string]int{}
	for i := range p.Connectors {
		c := &p.Connectors[i]
		if j, dup := seen[c.ID]; dup {
			v.at(fmt.Sprintf("duplicate connector id %q (also connectors[%d])", c.ID, j), "connectors", i, "id")
		}
		seen[c.ID] = i
		v.connector(c, i)
	}
}

func (v *validator) topic(t Topic, key string) {
	if !topicName.MatchString(t.Name) {
		v.at(fmt.Sprintf("bad topic name %q", t.Name), "topics", key, "name")
	}
	if t.Partitions < 1 {
		v.at("partitions must be at least 1", "topics", key, "partitions")
	}
	if t.Retention.D() < 0 {
		v.at("retention must not be negative", "topics", key, "retention")
	}
}

func (v *validator) connector(c *Connector, i int) {
	at := func(msg string, where ...any) { v.at(msg, append([]any{"connectors", i}, where...)...) }
	if !connectorID.MatchString(c.ID) {
		at(fmt.Sprintf("bad id %q: want 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", c.ID), "id")
	}
	for _, list := range []struct {
		key1, key2 string
		pats       []string
	}{
		{"tenants", "include", c.Filter.Tenants.Include},
		{"tenants", "exclude", c.Filter.Tenants.Exclude},
		{"actions", "include", c.Filter.Actions.Include},
		{"actions", "exclude", c.Filter.Actions.Exclude},
	} {
		for j, p := range list.pats {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				at(fmt.Sprintf("bad glob %q: syntax error in pattern", p), "filter", list.key1, list.key2, j)
			}
		}
	}
	r := c.Redact
	for _, list := range []struct {
		key    string
		fields []string
	}{{"drop", r.Drop}, {"mask", r.Mask}, {"hash", r.Hash}} {
		for j, f := range list.fields {
			if err := CheckRedactField(f); err != nil {
				at(err.Error(), "redact", list.key, j)
			}
		}
	}
	if len(r.Hash) > 0 {
		v.secret(connectorSecret(c.ID), r.Salt, true, "connectors", i, "redact", "salt")
	}
	b := c.Batch
	if b.MaxEvents < 1 {
		at("must be at least 1", "batch", "max_events")
	}
	if b.MaxBytes < 1 {
		at("must be at least 1", "batch", "max_bytes")
	}
	if b.MaxAge.D() <= 0 {
		at("must be positive", "batch", "max_age")
	}
	if b.BufferBytes < 1<<20 {
		at("must be at least 1MiB", "batch", "buffer_bytes")
	}
	switch c.Type {
	case TypeS3:
		if c.Datadog != nil {
			at("a connector of type s3 takes an s3 block, not datadog", "datadog")
		}
		if c.S3 == nil {
			at("type s3 needs an s3 block", "type")
			return
		}
		v.s3(c.S3, c.ID, i)
	case TypeDatadog:
		if c.S3 != nil {
			at("a connector of type datadog takes a datadog block, not s3", "s3")
		}
		if c.Datadog == nil {
			at("type datadog needs a datadog block", "type")
			return
		}
		if b.MaxEvents > DatadogMaxEntries {
			at(fmt.Sprintf("%d is over the intake's limit of %d entries per request", b.MaxEvents, DatadogMaxEntries), "batch", "max_events")
		}
		if b.MaxBytes > DatadogMaxBytes {
			at(fmt.Sprintf("%d is over the intake's limit of %d bytes per request", b.MaxBytes, DatadogMaxBytes), "batch", "max_bytes")
		}
		v.datadog(c.Datadog, c.ID, i)
	default:
		at(fmt.Sprintf("unknown type %q (want s3 or datadog)", c.Type), "type")
	}
}

func (v *validator) s3(s *S3, id string, i int) {
	at := func(msg string, where ...any) { v.at(msg, append([]any{"connectors", i, "s3"}, where...)...) }
	if len(s.Bucket) < 3 || len(s.Bucket) > 63 {
		at(fmt.Sprintf("bad bucket name %q: 3 to 63 characters", s.Bucket), "bucket")
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			at(fmt.Sprintf("bad endpoint %q: want a URL such as http://127.0.0.1:9000", s.Endpoint), "endpoint")
		}
	}
	cr := s.Credentials
	switch cr.Source {
	case "default":
	case "static":
		v.secret(connectorSecret(id), cr.AccessKeyID, true, "connectors", i, "s3", "credentials", "access_key_id")
		v.secret(connectorSecret(id), cr.SecretAccessKey, true, "connectors", i, "s3", "credentials", "secret_access_key")
	case "assume_role":
		if !strings.HasPrefix(cr.RoleARN, "arn:") {
			at(fmt.Sprintf("bad role_arn %q", cr.RoleARN), "credentials", "role_arn")
		}
		v.secret(connectorSecret(id), cr.ExternalID, false, "connectors", i, "s3", "credentials", "external_id")
	default:
		at(fmt.Sprintf("unknown source %q (want default, static or assume_role)", cr.Source), "credentials", "source")
	}
	switch s.Encryption.Mode {
	case "none", "sse-s3":
	case "sse-kms":
		if s.Encryption.KMSKeyID == "" {
			at("sse-kms needs kms_key_id", "encryption")
		}
	default:
		at(fmt.Sprintf("unknown mode %q (want none, sse-s3 or sse-kms)", s.Encryption.Mode), "encryption", "mode")
	}
	if l := s.ObjectLock; l != nil {
		if l.Mode != "governance" && l.Mode != "compliance" {
			at(fmt.Sprintf("unknown mode %q (want governance or compliance)", l.Mode), "object_lock", "mode")
		}
		if l.Days < 1 {
			at("days must be at least 1", "object_lock", "days")
		}
	}
}

// DatadogSites are the sites the sink knows by name.
var DatadogSites = []string{"datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"}

func (v *validator) datadog(d *Datadog, id string, i int) {
	at := func(msg string, where ...any) { v.at(msg, append([]any{"connectors", i, "datadog"}, where...)...) }
	if d.URL != "" {
		if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			at(fmt.Sprintf("bad url %q: want http(s)://host[:port]", d.URL), "url")
		}
	} else if !slices.Contains(DatadogSites, d.Site) {
		at(fmt.Sprintf("unknown site %q (want one of %s, or a url)", d.Site, strings.Join(DatadogSites, ", ")), "site")
	}
	v.secret(connectorSecret(id), d.APIKey, true, "connectors", i, "datadog", "api_key")
	for j, t := range d.Tags {
		if t == "" || strings.ContainsAny(t, ", ") {
			at(fmt.Sprintf("bad tag %s: no commas or spaces", strconv.Quote(t)), "tags", j)
		}
	}
	if l := d.CompressionLevel; l < 1 || l > 9 {
		at(fmt.Sprintf("%d is not a gzip level (1 to 9)", l), "compression_level")
	}
	if w := d.MaxRetryWait.D(); w < MinDatadogMaxRetryWait || w > MaxDatadogMaxRetryWait {
		at(fmt.Sprintf("%v is out of range (%v to %v)", w, MinDatadogMaxRetryWait, MaxDatadogMaxRetryWait), "max_retry_wait")
	}
}
