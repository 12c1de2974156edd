package s3sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestStep is one step of ConnectorTest: its name, and its error or what
// it found.
type TestStep struct {
	Name   string
	Err    error // the SDK's error, unwrapped, or a finding
	Detail string
}

// Steps of ConnectorTest.
const (
	StepBucket   = "bucket"       // HeadBucket: reachable, exists, credentials accepted
	StepLock     = "object lock"  // the bucket's Object Lock configuration, when the connector sets retention
	StepPut      = "put"          // PUT the marker with the connector's encryption and retention
	StepReadBack = "read back"    // GET it: same bytes, encryption as configured
	StepCleanup  = "delete probe" // best effort; never fails the test
)

// ErrLockNotEnabled is the finding of a bucket without Object Lock for a
// connector that sets object_lock.
var ErrLockNotEnabled = errors.New("the connector sets object_lock, but the bucket has no Object Lock enabled (it can only be enabled when the bucket is created)")

// ConnectorTest proves that the destination accepts a write as the sink
// makes it: it PUTs a marker object under <prefix>/_connector-test/ with
// the connector's storage class, encryption and Object Lock retention,
// reads it back and compares. It stops at the first failing step. Unlike
// Check it needs no conditional-write support, and it leaves the marker
// when it may not delete it (a WORM bucket). Verify ignores the marker.
func (w *Writer) ConnectorTest(ctx context.Context) (key string, steps []TestStep) {
	step := func(name string, err error, detail string) bool {
		steps = append(steps, TestStep{Name: name, Err: err, Detail: detail})
		return err == nil
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	// A HEAD answer has no body: a 403 does not say whether the key is
	// wrong or a permission is missing. The PUT below tells.
	if err := w.headBucket(cctx); isDenied(err) {
		step(StepBucket, nil, "HEAD bucket "+w.bucket+" answered 403 (no s3:ListBucket, or bad credentials: the write below tells)")
	} else if !step(StepBucket, err, "bucket "+w.bucket) {
		return "", steps
	}
	if l := w.conf.ObjectLock; l != nil {
		out, err := w.s3.GetObjectLockConfiguration(cctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(w.bucket)})
		switch {
		case err != nil && (errorCode(err) == "ObjectLockConfigurationNotFoundError" || isNotFound(err)):
			err = ErrLockNotEnabled
		case err == nil && (out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled):
			err = ErrLockNotEnabled
		}
		if !step(StepLock, err, fmt.Sprintf("%s retention for %d days", l.Mode, l.Days)) {
			return "", steps
		}
	}
	var random [6]byte
	_, _ = rand.Read(random[:])
	key = w.layout.join(fmt.Sprintf("_connector-test/%s-%s-%s.txt", w.layout.connector,
		w.now().UTC().Format("20060102T150405Z"), hex.EncodeToString(random[:])))
	body := fmt.Appendf(nil, "auditstream connector test of %s at %s\n", w.layout.connector, w.now().UTC().Format(time.RFC3339))
	if !step(StepPut, w.put(cctx, w.putInput(key, body, "text/plain", nil, false)), key) {
		return key, steps
	}
	out, err := w.s3.GetObject(cctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		step(StepReadBack, err, key)
		return key, steps
	}
	got, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	out.Body.Close()
	switch {
	case err != nil:
	case !bytes.Equal(got, body):
		err = fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(body))
	case w.conf.Encryption.Mode == "sse-s3" && out.ServerSideEncryption != types.ServerSideEncryptionAes256:
		err = fmt.Errorf("the object is stored with encryption %q, not AES256 (sse-s3)", out.ServerSideEncryption)
	case w.conf.Encryption.Mode == "sse-kms" && out.ServerSideEncryption != types.ServerSideEncryptionAwsKms:
		err = fmt.Errorf("the object is stored with encryption %q, not aws:kms (sse-kms)", out.ServerSideEncryption)
	case w.conf.ObjectLock != nil && out.ObjectLockRetainUntilDate == nil:
		err = errors.New("the object came back without an Object Lock retention date")
	}
	detail := fmt.Sprintf("%d bytes", len(got))
	if out.ServerSideEncryption != "" {
		detail += ", encryption " + string(out.ServerSideEncryption)
	}
	if out.ObjectLockRetainUntilDate != nil {
		detail += fmt.Sprintf(", %s retention until %s", out.ObjectLockMode, out.ObjectLockRetainUntilDate.UTC().Format(time.RFC3339))
	}
	if !step(StepReadBack, err, detail) {
		return key, steps
	}
	_, err = w.s3.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	switch {
	case err == nil && w.conf.ObjectLock != nil:
		steps = append(steps, TestStep{Name: StepCleanup, Detail: "a delete marker hides it; the locked version stays until its retention ends"})
	case err == nil:
		steps = append(steps, TestStep{Name: StepCleanup, Detail: "deleted"})
	default:
		steps = append(steps, TestStep{Name: StepCleanup, Detail: "left in place: " + brief(err)})
	}
	return key, steps
}

// ErrorCode is the S3 error code of err ("AccessDenied", "NoSuchBucket"),
// or the HTTP status text for answers without a body (HEAD), or "".
func ErrorCode(err error) string { return errorCode(err) }

// HTTPStatus is the HTTP status of the S3 answer that failed, or 0.
func HTTPStatus(err error) int { return httpStatus(err) }

// Brief is the S3 error code and message of err, for an operator.
func Brief(err error) string { return brief(err) }
