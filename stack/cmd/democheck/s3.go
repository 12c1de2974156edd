package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/auditstream/auditstream/config"
)

// s3Reader reads an S3 connector's objects, in the date directories of the
// published events only: the bucket may hold years of earlier events.
type s3Reader struct {
	client    *s3.Client
	bucket    string
	prefix    string // without slashes at either end
	connector string
	done      map[string]bool // keys read already
}

// s3Block is what the check reads of an S3 connector's block (the sinks'
// s3sink owns the block; this module cannot import it).
type s3Block struct {
	Bucket      string `yaml:"bucket"`
	Region      string `yaml:"region"`
	Prefix      string `yaml:"prefix"`
	Endpoint    string `yaml:"endpoint"`
	PathStyle   bool   `yaml:"path_style"`
	Credentials struct {
		Source          string        `yaml:"source"`
		AccessKeyID     config.Secret `yaml:"access_key_id"`
		SecretAccessKey config.Secret `yaml:"secret_access_key"`
	} `yaml:"credentials"`
}

// newS3Reader builds a client from the connector's destination settings:
// static credentials, or the AWS default chain.
func newS3Reader(ctx context.Context, c *config.Connector) (*s3Reader, error) {
	var s s3Block
	if err := c.DecodeBlock(&s); err != nil {
		return nil, err
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cmpOr(s.Region, "us-east-1"))}
	switch s.Credentials.Source {
	case "static":
		id, err := s.Credentials.AccessKeyID.Resolve()
		if err != nil {
			return nil, fmt.Errorf("s3 access_key_id: %w", err)
		}
		secret, err := s.Credentials.SecretAccessKey.Resolve()
		if err != nil {
			return nil, fmt.Errorf("s3 secret_access_key: %w", err)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	case "", "default":
	default:
		return nil, fmt.Errorf("s3 credentials source %q: the check reads with static credentials or the default chain", s.Credentials.Source)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.PathStyle
	})
	return &s3Reader{client: client, bucket: s.Bucket, prefix: strings.Trim(s.Prefix, "/"), connector: c.ID, done: make(map[string]bool)}, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// dirs are the date directories, relative to a connector's prefix, that
// hold the events: <project>/<YYYY>/<MM>/<DD>/<HH>/, as the S3 layout puts
// them.
func dirs(evs []event) []string {
	set := make(map[string]bool)
	for _, ev := range evs {
		h := ev.hour
		set[fmt.Sprintf("%s/%04d/%02d/%02d/%02d/", projectDir(ev.meta.Project), h.Year(), h.Month(), h.Day(), h.Hour())] = true
	}
	var ds []string
	for d := range set {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}

// projectDir is the S3 layout's directory of a project: the sink files an
// id that could escape the prefix, or take one of its own directories,
// under _invalid.
func projectDir(p string) string {
	switch {
	case p == "", p == ".", p == "..", p == "_manifests", p == "_auditstream", strings.ContainsAny(p, "/\\"):
		return "_invalid"
	}
	return p
}

// isObjectOf reports whether key names a data object of the connector:
// <connector>-<partition>-<first offset, 20 digits>.ndjson.gz. Another
// connector whose id extends this one ("s3" and "s3-2") never matches: its
// name leaves a non-digit in front of the offset.
func isObjectOf(key, connector string) bool {
	rest, ok := strings.CutPrefix(path.Base(key), connector+"-")
	if !ok {
		return false
	}
	if rest, ok = strings.CutSuffix(rest, ".ndjson.gz"); !ok {
		return false
	}
	p, off, ok := strings.Cut(rest, "-")
	return ok && digits(p) && len(off) == 20 && digits(off)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// poll lists the connector's objects in each directory and reads those it
// has not read yet, counting their events into t.
func (r *s3Reader) poll(ctx context.Context, ds []string, t *target, published map[string]bool) error {
	for _, d := range ds {
		prefix := d
		if r.prefix != "" {
			prefix = r.prefix + "/" + d
		}
		p := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", r.bucket, prefix, err)
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				if r.done[key] || !isObjectOf(key, r.connector) {
					continue
				}
				if err := r.read(ctx, key, t, published); err != nil {
					return err
				}
				r.done[key] = true
			}
		}
	}
	return nil
}

// read counts the events of one object.
func (r *s3Reader) read(ctx context.Context, key string, t *target, published map[string]bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", r.bucket, key, err)
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return fmt.Errorf("gunzip s3://%s/%s: %w", r.bucket, key, err)
	}
	ids, line, err := eventIDs(zr, func(id string) bool { return t.example == nil && published[id] })
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", r.bucket, key, err)
	}
	// Only a whole object counts: a read cut short must not count its
	// first half now and again when it is read once more.
	for _, id := range ids {
		t.add(id, published[id])
	}
	if line != "" {
		t.example = &example{where: "s3://" + r.bucket + "/" + key, line: line}
	}
	return nil
}

// eventIDs reads NDJSON events and returns the id of each, and the first
// line whose id pick accepts.
func eventIDs(rd io.Reader, pick func(id string) bool) (ids []string, picked string, err error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, "", fmt.Errorf("line %d: %w", n, err)
		}
		if ev.ID == "" {
			return nil, "", fmt.Errorf("line %d: no id", n)
		}
		ids = append(ids, ev.ID)
		if picked == "" && pick(ev.ID) {
			picked = sc.Text()
		}
	}
	return ids, picked, sc.Err()
}
