package sink

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is where the S3 sink writes: the local MinIO, reached with the
// credentials that stack/minio.sh keeps in files.
type S3 struct {
	Endpoint      string
	AccessKeyFile string
	SecretKeyFile string
}

// S3FromEnv reads the local stack's settings that .stack/env exports.
func S3FromEnv() (S3, error) {
	s := S3{
		Endpoint:      os.Getenv("AUDITSTREAM_S3_ENDPOINT"),
		AccessKeyFile: os.Getenv("AUDITSTREAM_S3_ACCESS_KEY_FILE"),
		SecretKeyFile: os.Getenv("AUDITSTREAM_S3_SECRET_KEY_FILE"),
	}
	if s.Endpoint == "" || s.AccessKeyFile == "" || s.SecretKeyFile == "" {
		return s, errors.New("no S3: set AUDITSTREAM_S3_ENDPOINT, AUDITSTREAM_S3_ACCESS_KEY_FILE and AUDITSTREAM_S3_SECRET_KEY_FILE (stack/up.sh minio writes them to .stack/env)")
	}
	return s, nil
}

// bucket is a bucket made for one scenario and removed, with everything in
// it, by remove.
type bucket struct {
	S3
	name   string
	client *s3.Client
}

// Client returns an S3 client of the endpoint, path-style, with its
// static credentials.
func (s S3) Client() (*s3.Client, error) {
	ak, err := readKey(s.AccessKeyFile)
	if err != nil {
		return nil, err
	}
	sk, err := readKey(s.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
	}), nil
}

// newBucket creates a bucket.
func newBucket(ctx context.Context, s S3, name string) (*bucket, error) {
	client, err := s.Client()
	if err != nil {
		return nil, err
	}
	b := &bucket{S3: s, name: name, client: client}
	if _, err := b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return nil, fmt.Errorf("create bucket %s at %s: %w", name, s.Endpoint, err)
	}
	return b, nil
}

func readKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read S3 credential: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// connector is the pipeline file's block for an S3 connector id writing
// under prefix, with the connector's default batch limits.
func (b *bucket) connector(id, prefix string) map[string]any {
	return map[string]any{
		"id": id, "type": "s3", "listen": "127.0.0.1:0",
		"s3": map[string]any{
			"bucket": b.name, "prefix": prefix, "endpoint": b.Endpoint, "path_style": true,
			"credentials": map[string]any{
				"source":            "static",
				"access_key_id":     map[string]any{"file": b.AccessKeyFile},
				"secret_access_key": map[string]any{"file": b.SecretKeyFile},
			},
		},
	}
}

// object is a data object as a listing shows it.
type object struct {
	key  string
	size int64
}

// objects lists the data objects (not the manifests) under prefix.
func (b *bucket) objects(ctx context.Context, prefix string) ([]object, error) {
	var out []object
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", b.name, prefix, err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); strings.HasSuffix(k, ".ndjson.gz") {
				out = append(out, object{key: k, size: aws.ToInt64(o.Size)})
			}
		}
	}
	return out, nil
}

// ids reads the event ids of a data object: one protojson event per line.
func (b *bucket) ids(ctx context.Context, key string) ([]string, error) {
	obj, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	var ids []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		ids = append(ids, ev.ID)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return ids, nil
}

// remove deletes every object of the bucket, then the bucket. It runs
// after a SIGINT too, so it does not use the scenario's context.
func (b *bucket) remove(ctx context.Context, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	err := b.empty(ctx)
	if err == nil {
		_, err = b.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b.name)})
	}
	if err != nil {
		log.Warn("remove benchmark bucket", "bucket", b.name, "err", err)
	}
}

func (b *bucket) empty(ctx context.Context) error {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", b.name, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(b.name), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err == nil && len(out.Errors) > 0 {
			err = fmt.Errorf("%d objects, the first %s: %s", len(out.Errors), aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		if err != nil {
			return fmt.Errorf("delete objects of %s: %w", b.name, err)
		}
	}
	return nil
}
