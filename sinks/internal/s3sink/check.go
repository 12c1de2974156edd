package s3sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// Check verifies at startup that the sink can deliver: the bucket exists,
// the credentials may write to it with the connector's settings
// (encryption, Object Lock retention, storage class) and read and list it,
// and the store honours conditional writes, on which exactly-once delivery
// rests.
//
// It writes a small probe object under <prefix>/_auditstream/ twice with
// If-None-Match: *. The first write must succeed and the second must be
// refused with 412; a store that accepts both would let two writers
// overwrite each other's objects. The probe is then deleted, best effort:
// a write-only archive policy (no s3:DeleteObject) is what a WORM archive
// should run with, so a refused delete is only logged. With Object Lock the
// delete only adds a delete marker; the probe's locked version (a few
// bytes) stays until its retention ends, like every other object.
//
// Last, it claims the connector's key space for the topic's identity, or
// checks the claim already there (checkIdentity): a writer whose topic is
// not the archive's refuses to start.
//
// A credentials or permission problem is returned as a
// *sink.UnauthorizedError. Messages never hold a secret.
func (w *Writer) Check(ctx context.Context) error {
	// HEAD responses carry no error code, so a denied HeadBucket is
	// explained by the probe's PUT below: a wrong key and a missing
	// permission read differently there.
	listErr := w.headBucket(ctx)
	switch {
	case isNotFound(listErr):
		return fmt.Errorf("bucket %s does not exist", w.bucket)
	case listErr != nil && !isDenied(listErr):
		return fmt.Errorf("reach bucket %s: %w", w.bucket, listErr)
	}
	var random [8]byte
	_, _ = rand.Read(random[:]) // never fails
	key := w.layout.probeKey(hex.EncodeToString(random[:]))
	body := []byte("auditstream write probe\n")
	err := w.put(ctx, w.putInput(key, body, "text/plain", nil, true))
	switch {
	case isDenied(err):
		return &sink.UnauthorizedError{Err: fmt.Errorf("access denied writing to bucket %s (check credentials and the s3:PutObject permission): %s",
			w.bucket, brief(err))}
	case isNoSuchBucket(err):
		return fmt.Errorf("bucket %s does not exist", w.bucket)
	case err != nil:
		return fmt.Errorf("write probe object %s to bucket %s: %w", key, w.bucket, err)
	}
	defer w.deleteProbe(ctx, key)
	if listErr != nil {
		return &sink.UnauthorizedError{Err: fmt.Errorf("access denied listing bucket %s: the credentials can write to it but lack "+
			"s3:ListBucket, without which S3 answers 403 instead of 404 for a missing manifest", w.bucket)}
	}
	if _, err := w.headObject(ctx, key); isDenied(err) {
		return &sink.UnauthorizedError{Err: fmt.Errorf("access denied reading bucket %s: the credentials can write to it but lack "+
			"s3:GetObject, which the writer needs to read anchors and manifests", w.bucket)}
	}
	err = w.put(ctx, w.putInput(key, body, "text/plain", nil, true))
	switch {
	case err == nil:
		return fmt.Errorf("bucket %s accepted a second create-only write of %s: the store ignores If-None-Match, "+
			"and exactly-once delivery needs conditional writes", w.bucket, key)
	case !isPreconditionFailed(err):
		return fmt.Errorf("check conditional writes with %s in bucket %s: %w", key, w.bucket, err)
	}
	if err := w.checkIdentity(ctx); err != nil {
		return err
	}
	w.log.Info("s3 destination checked", "prefix", w.layout.prefix)
	return nil
}

// headBucket asks whether the bucket exists and the credentials reach it.
// The error is the SDK's.
func (w *Writer) headBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	_, err := w.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(w.bucket)})
	return err
}

// deleteProbe removes the probe object if the credentials may.
func (w *Writer) deleteProbe(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	_, err := w.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	switch {
	case err == nil:
	case isDenied(err):
		w.log.Info("probe object left in place: the credentials may not delete (fine for a write-only archive)", "key", key)
	default:
		w.log.Warn("delete probe object", "key", key, "err", err)
	}
}
