package config

import (
	"fmt"
	"slices"
)

// SecretScope names the parts of a pipeline whose secrets a process uses.
// Loading a file checks only the shape of its secret references; a process
// then resolves, with CheckSecrets, exactly the secrets of its scope, so
// that the router holds no tenant's destination key and a sink holds only
// its own connector's.
type SecretScope struct {
	// Kafka is the connection's secrets: the SASL password, the OAuth
	// token, the MSK IAM keys. Every process that talks to Kafka uses them.
	Kafka bool
	// Admin is the admin endpoints' bearer token, for a process that
	// serves them (the router, a sink) or asks them (auditctl status).
	Admin bool
	// Connectors are connector ids whose secrets the process uses: the
	// destination's credentials and the redaction salt.
	Connectors []string
}

// AllSecrets is the scope of every secret of the pipeline, for a check of
// the whole file before it is deployed.
func (p *Pipeline) AllSecrets() SecretScope {
	s := SecretScope{Kafka: true, Admin: true}
	for _, c := range p.Connectors {
		s.Connectors = append(s.Connectors, c.ID)
	}
	return s
}

// secretOwner is the part of the pipeline a secret serves.
type secretOwner struct {
	part      string // partKafka, partAdmin or partConnector
	connector string // the connector's id, for partConnector
}

const (
	partKafka     = "kafka"
	partAdmin     = "admin"
	partConnector = "connector"
)

var (
	kafkaSecret = secretOwner{part: partKafka}
	adminSecret = secretOwner{part: partAdmin}
)

func connectorSecret(id string) secretOwner { return secretOwner{part: partConnector, connector: id} }

// secretRef is one secret reference of the file: its owner and where it is,
// as keys and indexes from the document root.
type secretRef struct {
	owner  secretOwner
	secret Secret
	where  []any
}

func (s SecretScope) has(o secretOwner) bool {
	switch o.part {
	case partKafka:
		return s.Kafka
	case partAdmin:
		return s.Admin
	}
	return slices.Contains(s.Connectors, o.connector)
}

// CheckSecrets resolves every secret of the scope now, so that a missing
// variable or file stops the process at start rather than at the first
// delivery. Its error is an Errors value naming the file, the line and the
// reason of each secret that does not resolve, never a value. A connector
// of the scope that the pipeline does not have is an error too.
func (p *Pipeline) CheckSecrets(s SecretScope) error {
	v := validator{file: p.Path, root: p.root}
	for _, id := range s.Connectors {
		if _, ok := p.Connector(id); !ok {
			v.errs = append(v.errs, &Error{File: p.Path, Msg: fmt.Sprintf("no connector %q", id)})
		}
	}
	for _, r := range p.secrets {
		if !s.has(r.owner) {
			continue
		}
		if _, err := r.secret.Resolve(); err != nil {
			v.at(err.Error(), r.where...)
		}
	}
	if len(v.errs) > 0 {
		// In file order, as Load reports.
		slices.SortStableFunc(v.errs, func(a, b *Error) int { return a.Line - b.Line })
		return v.errs
	}
	return nil
}

// secret checks the shape of a reference, present where it is required,
// and records it for CheckSecrets. Nothing is resolved here: the file is
// loaded alike by processes that hold different secrets.
func (v *validator) secret(o secretOwner, s Secret, required bool, where ...any) {
	if !s.IsSet() {
		if required {
			v.at("a secret reference {env: NAME} or {file: PATH} is required", where...)
		}
		return
	}
	v.secrets = append(v.secrets, secretRef{owner: o, secret: s, where: slices.Clone(where)})
}
