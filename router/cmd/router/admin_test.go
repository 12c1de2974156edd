package main

import "testing"

// TestPublicReason: the words a caller without the admin token reads name
// the kind of failure and nothing of the error.
func TestPublicReason(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"not yet assigned partitions of the events topic", "not joined its group yet"},
		{"3 transactions in a row aborted, the last: produce to audit.connector.x: MESSAGE_TOO_LARGE", "transactions aborting"},
		{"begin transaction: broker 10.0.0.5:9092: fenced", "routing failed"},
		{"waiting for Kafka: list topics: unable to dial: dial tcp 10.0.0.5:9092: connection refused", "waiting for Kafka"},
	}
	for _, tt := range tests {
		if got := publicReason(tt.reason); got != tt.want {
			t.Errorf("publicReason(%q): got %q, want %q", tt.reason, got, tt.want)
		}
	}
}
