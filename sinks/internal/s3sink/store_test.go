package s3sink

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestPutInput(t *testing.T) {
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		conf      Config
		sse       types.ServerSideEncryption
		kmsKey    string
		lockMode  types.ObjectLockMode
		lockUntil time.Time
		class     types.StorageClass
	}{
		{name: "plain", conf: Config{Encryption: Encryption{Mode: "none"}}},
		{name: "sse-s3", conf: Config{Encryption: Encryption{Mode: "sse-s3"}}, sse: types.ServerSideEncryptionAes256},
		{name: "sse-kms", conf: Config{Encryption: Encryption{Mode: "sse-kms", KMSKeyID: "arn:aws:kms:eu-west-1:1:key/k"}},
			sse: types.ServerSideEncryptionAwsKms, kmsKey: "arn:aws:kms:eu-west-1:1:key/k"},
		{name: "governance", conf: Config{ObjectLock: &ObjectLock{Mode: "governance", Days: 30}},
			lockMode: types.ObjectLockModeGovernance, lockUntil: now.AddDate(0, 0, 30)},
		{name: "compliance", conf: Config{ObjectLock: &ObjectLock{Mode: "compliance", Days: 1}},
			lockMode: types.ObjectLockModeCompliance, lockUntil: now.AddDate(0, 0, 1)},
		{name: "storage class", conf: Config{StorageClass: "STANDARD_IA"}, class: types.StorageClassStandardIa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &Writer{bucket: "b", conf: &tt.conf, now: func() time.Time { return now }}
			in := w.putInput("k", []byte("body"), "application/gzip", map[string]string{"a": "1"}, true)
			if aws.ToString(in.IfNoneMatch) != "*" || aws.ToString(in.Key) != "k" || aws.ToInt64(in.ContentLength) != 4 {
				t.Errorf("got If-None-Match %q, key %q, length %d; want *, k, 4", aws.ToString(in.IfNoneMatch), aws.ToString(in.Key), aws.ToInt64(in.ContentLength))
			}
			if in.ServerSideEncryption != tt.sse || aws.ToString(in.SSEKMSKeyId) != tt.kmsKey {
				t.Errorf("encryption: got %q %q, want %q %q", in.ServerSideEncryption, aws.ToString(in.SSEKMSKeyId), tt.sse, tt.kmsKey)
			}
			if in.ObjectLockMode != tt.lockMode || !aws.ToTime(in.ObjectLockRetainUntilDate).Equal(tt.lockUntil) {
				t.Errorf("object lock: got %q until %v, want %q until %v", in.ObjectLockMode, aws.ToTime(in.ObjectLockRetainUntilDate), tt.lockMode, tt.lockUntil)
			}
			if in.StorageClass != tt.class {
				t.Errorf("storage class: got %q, want %q", in.StorageClass, tt.class)
			}
		})
	}
	w := &Writer{bucket: "b", conf: &Config{}, now: time.Now}
	if in := w.putInput("m", nil, "application/json", nil, false); in.IfNoneMatch != nil {
		t.Errorf("plain PUT: got If-None-Match %q, want none", aws.ToString(in.IfNoneMatch))
	}
}
