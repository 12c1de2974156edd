package route

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/auditstream/auditstream/router/internal/topics"
)

// TestFatal: only a broker's non-retriable answer stops the router; an
// unreachable cluster and retriable answers are waited out.
func TestFatal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"unable to dial", fmt.Errorf("create topic x: %w", errors.New("unable to dial: dial tcp 127.0.0.1:1: connect: connection refused")), false},
		{"deadline", fmt.Errorf("end transaction: %w", context.DeadlineExceeded), false},
		{"retriable", fmt.Errorf("list topics: %w", kerr.NotController), false},
		{"fenced", fmt.Errorf("end transaction: %w", kerr.ProducerFenced), true},
		{"no acl", fmt.Errorf("create topic x: %w", kerr.TopicAuthorizationFailed), true},
		{"joined", fmt.Errorf("end transaction: %w", errors.Join(kerr.NotCoordinator, kerr.TransactionalIDAuthorizationFailed)), true},
		{"min.insync.replicas above the replication factor", fmt.Errorf("prepare: %w", &topics.DurabilityError{Err: errors.New("topic x: min.insync.replicas 2 is above its replication factor 1")}), true},
	}
	for _, tt := range tests {
		if got := fatal(tt.err); got != tt.want {
			t.Errorf("%s: fatal(%v): got %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
