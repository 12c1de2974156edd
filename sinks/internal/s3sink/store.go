package s3sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxManifestBytes bounds a manifest read. A manifest takes about 250
// bytes per object: a batch spread over a few hundred projects and hours
// makes tens of KB.
const maxManifestBytes = 4 << 20

// putInput is a PUT of body at key with the connector's storage class,
// encryption and Object Lock retention. ifNoneMatch makes it a
// create-only write.
func (w *Writer) putInput(key string, body []byte, contentType string, meta map[string]string, ifNoneMatch bool) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(w.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType),
		Metadata:      meta,
	}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if c := w.conf.StorageClass; c != "" {
		in.StorageClass = types.StorageClass(c)
	}
	switch w.conf.Encryption.Mode {
	case "sse-s3":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "sse-kms":
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(w.conf.Encryption.KMSKeyID)
	}
	if l := w.conf.ObjectLock; l != nil {
		in.ObjectLockMode = types.ObjectLockModeGovernance
		if l.Mode == "compliance" {
			in.ObjectLockMode = types.ObjectLockModeCompliance
		}
		in.ObjectLockRetainUntilDate = aws.Time(w.now().Add(time.Duration(l.Days) * 24 * time.Hour).UTC())
	}
	return in
}

// put runs a PUT and times it. The error is the SDK's, unwrapped, so that
// callers can tell a 412 from the rest.
func (w *Writer) put(ctx context.Context, in *s3.PutObjectInput) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	t := time.Now()
	_, err := w.s3.PutObject(ctx, in)
	w.m.putTime.Observe(time.Since(t).Seconds())
	return err
}

// putObject writes a data object of d, create-only. A 412 is returned as
// it is; other errors are wrapped and classified.
func (w *Writer) putObject(ctx context.Context, d *delivery, o *object) error {
	err := w.put(ctx, w.putInput(o.key, o.content, "application/gzip", metaOf(d, o).header(), true))
	switch {
	case err == nil:
		w.m.objects.Inc()
		w.m.bytes.Add(float64(len(o.content)))
		w.m.events.Add(float64(o.records))
		return nil
	case isPreconditionFailed(err):
		return err
	}
	return fmt.Errorf("put object %s: %w", o.key, w.classify(err))
}

// headMeta reads a data object's metadata.
func (w *Writer) headMeta(ctx context.Context, key string) (objectMeta, error) {
	h, err := w.headObject(ctx, key)
	if err != nil {
		return objectMeta{}, fmt.Errorf("head object %s: %w", key, w.classify(err))
	}
	m, err := parseMeta(h)
	if err != nil {
		return m, fmt.Errorf("object %s: %w", key, err)
	}
	if err := w.sameIdentity("object "+key, m.identity); err != nil {
		return m, err
	}
	return m, nil
}

// headObject returns an object's user metadata. The error is the SDK's.
func (w *Writer) headObject(ctx context.Context, key string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Metadata, nil
}

// putManifest writes d's manifest. It is a plain PUT: every writer that
// finishes d writes the same bytes.
func (w *Writer) putManifest(ctx context.Context, d *delivery) error {
	key := w.layout.manifestKey(d.partition, d.last+1)
	if err := w.put(ctx, w.putInput(key, manifestOf(d).encode(), "application/json", nil, false)); err != nil {
		return fmt.Errorf("put manifest %s: %w", key, w.classify(err))
	}
	return nil
}

// getManifest reads the manifest named next. A missing manifest is an
// error that isNotFound recognizes.
func (w *Writer) getManifest(ctx context.Context, partition int32, next int64) (*manifest, error) {
	key := w.layout.manifestKey(partition, next)
	body, _, err := w.get(ctx, key, maxManifestBytes)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	if m.Connector != w.layout.connector || m.Partition != partition || m.Last+1 != next {
		return nil, fmt.Errorf("manifest %s describes connector %s partition %d through offset %d, not what its name says",
			key, m.Connector, m.Partition, m.Last)
	}
	if err := w.sameIdentity("manifest "+key, m.Identity); err != nil {
		return nil, err
	}
	return m, nil
}

// get reads an object of at most limit bytes, and its metadata.
func (w *Writer) get(ctx context.Context, key string, limit int64) ([]byte, map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, nil, fmt.Errorf("get object %s: %w", key, w.classify(err))
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read object %s: %w", key, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("object %s is larger than %d bytes", key, limit)
	}
	return body, out.Metadata, nil
}
