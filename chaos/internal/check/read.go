package check

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
)

// idOnly decodes the id of an archived or logged event.
type idOnly struct {
	ID string `json:"id"`
}

// ReadS3 counts the ids in every object under prefix/ of a bucket,
// manifests left out.
func ReadS3(ctx context.Context, c *s3.Client, bucket, prefix string) (map[string]int, int, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.Contains(k, "/_manifests/") || !strings.HasSuffix(k, ".ndjson.gz") {
				continue
			}
			keys = append(keys, k)
		}
	}
	got := map[string]int{}
	var mu sync.Mutex
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range work {
				ids, err := readObject(ctx, c, bucket, k)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for _, id := range ids {
					got[id]++
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return got, len(keys), firstErr
}

func readObject(ctx context.Context, c *s3.Client, bucket, key string) ([]string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", key, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 4<<20)
	var ids []string
	for sc.Scan() {
		var e idOnly
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", key, len(ids)+1, err)
		}
		ids = append(ids, e.ID)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return ids, nil
}

// IDOf returns the id of a logged event's message.
func IDOf(message string) (string, error) {
	var e idOnly
	if err := json.Unmarshal([]byte(message), &e); err != nil {
		return "", err
	}
	return e.ID, nil
}

// ReadDLQ reads the dead-letter topic from its start, read_committed,
// until nothing new has come for idle.
func ReadDLQ(ctx context.Context, brokers []string, topic string, idle time.Duration) ([]DeadLetter, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.Close()
	var out []DeadLetter
	for {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %w", topic, err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			d := DeadLetter{Key: string(r.Key)}
			for _, h := range r.Headers {
				switch h.Key {
				case record.HeaderDLQReason:
					d.Reason = string(h.Value)
				case record.HeaderDLQStage:
					d.Stage = string(h.Value)
				}
			}
			out = append(out, d)
		})
		if n == 0 && pctx.Err() != nil {
			return out, nil
		}
	}
}
