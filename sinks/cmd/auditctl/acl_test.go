package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/auditstream/auditstream/config"
)

// TestKafkaFailedNamesTheMissingACL: an authorization error is a missing
// ACL, named for the command (exit 2), not Kafka unreachable (exit 3).
func TestKafkaFailedNamesTheMissingACL(t *testing.T) {
	p := &config.Pipeline{}
	p.Topics.Events.Name, p.Topics.DLQ.Name, p.Topics.ConnectorPrefix = "audit.events", "audit.dlq", "audit.connector."
	p.Router.Group = "auditstream-router"
	for _, tc := range []struct {
		name string
		err  error
		need acls
		code int
		msg  string
	}{
		{"group", fmt.Errorf("describe groups: %w", kerr.GroupAuthorizationFailed), statusACLs(p), exitUsage,
			"missing ACL: Describe on Group auditstream-router, and on the prefix auditstream-sink- (prefixed)"},
		{"topic", fmt.Errorf("list offsets: %w", kerr.TopicAuthorizationFailed), replayACLs(p, "dd"), exitUsage,
			"missing ACL: Read on Topic audit.connector.dd"},
		{"transactional id", fmt.Errorf("init producer id: %w", kerr.TransactionalIDAuthorizationFailed), redriveACLs(p), exitUsage,
			"missing ACL: Write on TransactionalId auditstream-auditctl-redrive-audit.dlq"},
		{"not one this command uses", kerr.TransactionalIDAuthorizationFailed, dlqReadACLs(p), exitUsage,
			"an ACL this command does not use"},
		{"cluster", kerr.ClusterAuthorizationFailed, statusACLs(p), exitUsage, "IdempotentWrite on Cluster"},
		{"unreachable", errors.New("dial tcp 127.0.0.1:1: connection refused"), statusACLs(p), exitUnreachable, "connection refused"},
		{"another kafka error", kerr.NotCoordinator, statusACLs(p), exitUnreachable, "NOT_COORDINATOR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			got := kafkaFailed(&w, "cmd", tc.err, tc.need)
			if got != tc.code || !strings.Contains(w.String(), tc.msg) || !strings.HasPrefix(w.String(), "auditctl cmd: ") {
				t.Errorf("kafkaFailed(%v) = %d, %q; want %d and a message with %q", tc.err, got, w.String(), tc.code, tc.msg)
			}
		})
	}
}
