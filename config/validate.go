package config

import (
	"fmt"
	"path"
	"regexp"
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

func (v *validator) pipeline(p *Pipeline, o *options) {
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
	v.durability(p.Topics.Connector, "connector")
	if !topicName.MatchString(p.Topics.ConnectorPrefix + "x") {
		v.at(fmt.Sprintf("bad prefix %q: topic names use letters, digits, '.', '_' and '-'", p.Topics.ConnectorPrefix), "topics", "connector_prefix")
	}
	v.admin(p)
	switch ci := p.Router.CommitInterval.D(); {
	case ci <= 0:
		v.at("must be positive", "router", "commit_interval")
	case ci > MaxCommitInterval:
		v.at(fmt.Sprintf("at most %v: Kafka aborts a router transaction that lasts longer than %v, so routing would never commit", MaxCommitInterval, RouterTransactionTimeout), "router", "commit_interval")
	}
	seen := map[string]int{}
	for i := range p.Connectors {
		c := &p.Connectors[i]
		if j, dup := seen[c.ID]; dup {
			v.at(fmt.Sprintf("duplicate connector id %q (also connectors[%d])", c.ID, j), "connectors", i, "id")
		}
		seen[c.ID] = i
		v.connector(c, i, o)
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
	v.durability(t, key)
}

func (v *validator) connector(c *Connector, i int, o *options) {
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
			if o.redactField == nil {
				break
			}
			if err := o.redactField(f); err != nil {
				at(err.Error(), "redact", list.key, j)
			}
		}
	}
	if len(r.Hash) > 0 {
		v.secret(connectorSecret(c.ID), r.Salt, true, "connectors", i, "redact", "salt")
	}
	// The destination first: its defaults of the batch limits come before
	// the generic ones.
	v.destination(c, i, o)
	c.applyDefaults()
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
}
