// Package cluster is the benchmark's view of the broker: fresh topics and
// consumer groups for each run, removed afterwards, and the offsets that
// tell when a consumer has drained a topic.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitions is the partition count of every topic a benchmark creates.
const Partitions = 6

// Cluster creates uniquely named topics and groups and remembers them, so
// that Cleanup removes them. It is not safe for concurrent use.
type Cluster struct {
	brokers []string
	client  *kgo.Client
	adm     *kadm.Client
	log     *slog.Logger
	run     string // the unique part of every name
	topics  []string
	groups  []string
}

// New connects to the brokers.
func New(brokers []string, log *slog.Logger) (*Cluster, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("kafka admin client: %w", err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	run := time.Now().UTC().Format("0102T150405") + "-" + hex.EncodeToString(b)
	return &Cluster{brokers: brokers, client: cl, adm: kadm.NewClient(cl), log: log, run: run}, nil
}

// Brokers returns the seed brokers.
func (c *Cluster) Brokers() []string { return c.brokers }

// Name returns a name unique to this run: bench.<run>.<what>.
func (c *Cluster) Name(what string) string { return "bench." + c.run + "." + what }

// ID returns a lower-case name unique to this run, bench-<run>-<what>, for
// what allows neither dots nor capitals: connector ids, S3 buckets.
func (c *Cluster) ID(what string) string {
	return strings.ToLower("bench-" + c.run + "-" + what)
}

// Topic creates a topic of Partitions partitions named Name(what).
func (c *Cluster) Topic(ctx context.Context, what string) (string, error) {
	name := c.Name(what)
	resp, err := c.adm.CreateTopic(ctx, Partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	c.topics = append(c.topics, name)
	return name, nil
}

// Group returns a new consumer group name, deleted by Cleanup.
func (c *Cluster) Group(what string) string {
	name := c.Name(what)
	c.groups = append(c.groups, name)
	return name
}

// AddGroup remembers a group named by someone else (a sink's group is
// named after its connector), for Cleanup to delete it.
func (c *Cluster) AddGroup(name string) {
	c.groups = append(c.groups, name)
}

// DeleteGroup deletes a group and its committed offsets, so that the next
// consumer in it starts from the beginning. A member that has just left may
// still hold the group for a moment: that is retried for up to 30 s.
func (c *Cluster) DeleteGroup(ctx context.Context, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.adm.DeleteGroup(ctx, name)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.GroupIDNotFound) {
			return nil
		}
		if !errors.Is(err, kerr.NonEmptyGroup) || time.Now().After(deadline) {
			return fmt.Errorf("delete group %s: %w", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Cleanup deletes the groups and topics of this run and closes the client.
// Missing ones are not an error: a run that failed early created fewer.
func (c *Cluster) Cleanup(ctx context.Context) {
	defer c.client.Close()
	if len(c.groups) > 0 {
		if _, err := c.adm.DeleteGroups(ctx, c.groups...); err != nil {
			c.log.Warn("delete benchmark groups", "err", err)
		}
	}
	if len(c.topics) > 0 {
		resp, err := c.adm.DeleteTopics(ctx, c.topics...)
		if err == nil {
			for _, r := range resp {
				if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
					err = errors.Join(err, fmt.Errorf("%s: %w", r.Topic, r.Err))
				}
			}
		}
		if err != nil {
			c.log.Warn("delete benchmark topics", "err", err)
		}
	}
}

// EndOffsets returns the end offset of each partition of topic.
func (c *Cluster) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	l, err := c.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Committed returns the offsets group has committed on topic, by
// partition. A group that has committed nothing, or does not exist yet, has
// none.
func (c *Cluster) Committed(ctx context.Context, group, topic string) (map[int32]int64, error) {
	resp, err := c.adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of %s: %w", group, err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// Reached reports whether every partition's offset is at or past end.
func Reached(offsets, end map[int32]int64) bool {
	for p, e := range end {
		if offsets[p] < e {
			return false
		}
	}
	return true
}

// Sum adds up offsets: for end offsets, the record count of a topic written
// without transactions.
func Sum(end map[int32]int64) int64 {
	var n int64
	for _, o := range end {
		n += o
	}
	return n
}

// Bytes returns the size of a topic's log segments on the broker: what its
// records take once batched and compressed.
func (c *Cluster) Bytes(ctx context.Context, topic string) (int64, error) {
	set := kadm.TopicsSet{topic: {}}
	for p := range int32(Partitions) {
		set[topic][p] = struct{}{}
	}
	dirs, err := c.adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		return 0, fmt.Errorf("describe log dirs of %s: %w", topic, err)
	}
	var n int64
	dirs.Each(func(d kadm.DescribedLogDir) { n += d.Size() })
	return n, nil
}
