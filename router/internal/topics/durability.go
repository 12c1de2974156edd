package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/producer"
)

// DurabilityError is a topic whose replication settings, as the brokers
// report them or as the file asks for them, cannot keep an acknowledged
// event or cannot be applied: a configuration error that waiting does not
// fix (the router exits 2).
type DurabilityError struct{ Err error }

func (e *DurabilityError) Error() string { return e.Err.Error() }
func (e *DurabilityError) Unwrap() error { return e.Err }

// Check reads every topic's replication factor and min.insync.replicas
// from the brokers, the ones it did not create included: an existing topic
// is never altered, so its actual settings are what an acknowledged event
// rests on. It returns a *DurabilityError when a topic's min.insync.replicas
// is above its replication factor, since no acks=all write (every producer
// of the pipeline's) can be acknowledged there.
//
// The warnings, one line each, say where topics are weaker than 3 replicas
// with 2 in sync (grouped by their settings), where a topic differs from
// the pipeline file, and which topics could not be read for want of the
// DescribeConfigs ACL (their check is skipped, not failed: the ACL is only
// needed for this check).
func Check(ctx context.Context, cl kmsg.Requestor, specs []Spec) (warnings []string, err error) {
	var (
		unsafe []error
		unread []string
		weak   = map[[2]int][]string{} // topics by replication factor and min.insync.replicas
		order  [][2]int
	)
	for _, s := range specs {
		d, err := durability(ctx, cl, s.Name)
		switch {
		case errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed):
			unread = append(unread, s.Name)
			continue
		case err != nil:
			return nil, err
		}
		if _, err := d.Check(); err != nil {
			unsafe = append(unsafe, err)
			continue
		}
		warnings = append(warnings, differences(s, d)...)
		k := [2]int{d.ReplicationFactor, d.MinInsyncReplicas}
		if weak[k] == nil {
			order = append(order, k)
		}
		weak[k] = append(weak[k], s.Name)
	}
	if len(unsafe) > 0 {
		return nil, &DurabilityError{errors.Join(unsafe...)}
	}
	for _, k := range order {
		w, _ := producer.Durability{Topic: strings.Join(weak[k], ", "), ReplicationFactor: k[0], MinInsyncReplicas: k[1]}.Check()
		warnings = append(warnings, w...)
	}
	if len(unread) > 0 {
		warnings = append(warnings, fmt.Sprintf("topic %s: replication not checked: the brokers refused DescribeConfigs; "+
			"grant it so that a min.insync.replicas above the replication factor is refused at start", strings.Join(unread, ", ")))
	}
	return warnings, nil
}

// durability reads one topic's settings. A topic just created may be
// missing from a broker's metadata for a moment: retriable answers are
// asked again, for a few seconds.
func durability(ctx context.Context, cl kmsg.Requestor, topic string) (producer.Durability, error) {
	for attempt := 1; ; attempt++ {
		d, err := producer.TopicDurability(ctx, cl, topic)
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable || attempt == 25 {
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// differences says where an existing topic's settings are not the file's.
func differences(s Spec, d producer.Durability) []string {
	var out []string
	if rf := int(s.ReplicationFactor); rf > 0 && rf != d.ReplicationFactor {
		out = append(out, fmt.Sprintf("topic %s has replication factor %d, the pipeline file says %d (topics.%s.replication_factor): "+
			"an existing topic is never altered; reassign its partitions (kafka-reassign-partitions.sh), or change the file",
			s.Name, d.ReplicationFactor, rf, s.Class))
	}
	if m := s.MinInsyncReplicas; m > 0 && m != d.MinInsyncReplicas {
		out = append(out, fmt.Sprintf("topic %s has min.insync.replicas %d, the pipeline file says %d (topics.%s.min_insync_replicas): "+
			"an existing topic is never altered; run kafka-configs.sh --alter --entity-type topics --entity-name %[1]s --add-config min.insync.replicas=%[3]d, or change the file",
			s.Name, d.MinInsyncReplicas, m, s.Class))
	}
	return out
}
