package main

import "testing"

// TestPublicReason: the words a caller without the admin token reads name
// the kind of failure and nothing of the error.
func TestPublicReason(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"not yet assigned partitions of audit.connector.s3", "no partitions assigned yet"},
		{"waiting for the destination: reach bucket b: dial tcp 10.0.0.7:9000: connect: connection refused", "waiting for the destination"},
		{"partition 2: write: put object a/b at https://minio.internal:9000: AccessDenied", "destination failing"},
		{`partition 0: write: datadog 403: {"errors":["Forbidden"]}`, "destination failing"},
		{"partition 1: dead-letter produce: UNKNOWN_TOPIC_OR_PARTITION", "dead-letter topic failing"},
		{"partition 1: read rejected records again: EOF", "dead-letter topic failing"},
		{"partition 3: commit: REBALANCE_IN_PROGRESS", "offset commit failing"},
		{"partition 3: fetch committed offset: broker 10.0.0.5:9092 gone", "offset fetch failing"},
		{"partition 4: the batch must grow through offset 19, a delivery ...", "a partition makes no progress"},
		{"something new: https://secret.internal", ""},
	}
	for _, tt := range tests {
		if got := publicReason(tt.reason); got != tt.want {
			t.Errorf("publicReason(%q): got %q, want %q", tt.reason, got, tt.want)
		}
	}
}
