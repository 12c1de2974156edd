package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/dlq"
)

// acls is what one command needs of each kind of Kafka resource, in the
// words of README.md's "Least privilege" tables; "" where it needs nothing.
type acls struct {
	topic, group, txn string
}

func statusACLs(p *config.Pipeline) acls {
	return acls{
		topic: fmt.Sprintf("Read on Topic %s and %s, and on the prefix %s (prefixed)", p.Topics.Events.Name, p.Topics.DLQ.Name, p.ConnectorTopic("")),
		group: fmt.Sprintf("Describe on Group %s, and on the prefix %s (prefixed)", p.Router.Group, p.ConnectorGroup("")),
	}
}

func replayACLs(p *config.Pipeline, connector string) acls {
	return acls{
		topic: "Read on Topic " + p.ConnectorTopic(connector),
		group: "Read on Group " + p.ConnectorGroup(connector),
	}
}

func dlqReadACLs(p *config.Pipeline) acls {
	return acls{topic: "Read on Topic " + p.Topics.DLQ.Name}
}

func redriveACLs(p *config.Pipeline) acls {
	return acls{
		topic: fmt.Sprintf("Read and Write on Topic %s, Write on Topic %s and on the prefix %s (prefixed)",
			p.Topics.DLQ.Name, p.Topics.Events.Name, p.ConnectorTopic("")),
		txn: "Write on TransactionalId " + dlq.TransactionalID(p.Topics.DLQ.Name),
	}
}

// kafkaFailed reports a command's Kafka error and returns its exit code. An
// authorization error is no outage: the broker answered, and the principal
// lacks an ACL, which the message names; that is configuration to fix
// (exit 2). Any other error is Kafka unreachable (exit 3).
func kafkaFailed(w io.Writer, cmd string, err error, need acls) int {
	var missing string
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		missing = need.topic
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		missing = need.group
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		missing = need.txn
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		// No command needs one on Kafka 3.0 and later (KIP-679).
		missing = "IdempotentWrite on Cluster (a broker older than Kafka 3.0)"
	default:
		fmt.Fprintf(w, "auditctl %s: %v\n", cmd, err)
		return exitUnreachable
	}
	if missing == "" {
		missing = "an ACL this command does not use (see README.md, \"Least privilege\")"
	}
	fmt.Fprintf(w, "auditctl %s: Kafka refused the principal: missing ACL: %s (README.md, \"Least privilege\"): %v\n", cmd, missing, err)
	return exitUsage
}
