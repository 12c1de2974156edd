package s3sink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// LearnIdentity asks Kafka for the identity of the connector's topic: its
// topic ID and the cluster's ID. A broker that gives no topic ID (older
// than Kafka 2.8) or no cluster ID cannot say whether offsets still mean
// the same records, so that is an error.
func LearnIdentity(ctx context.Context, adm *kadm.Client, topic string) (Identity, error) {
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return Identity{}, fmt.Errorf("read the metadata of topic %s: %w", topic, err)
	}
	t, ok := m.Topics[topic]
	switch {
	case !ok:
		return Identity{}, fmt.Errorf("topic %s: not in the metadata", topic)
	case t.Err != nil:
		return Identity{}, fmt.Errorf("topic %s: %w", topic, t.Err)
	case t.ID == kadm.TopicID{}:
		return Identity{}, fmt.Errorf("topic %s has no topic ID (a broker older than Kafka 2.8?)", topic)
	case m.Cluster == "":
		return Identity{}, errors.New("the Kafka cluster gives no cluster ID")
	}
	// Kafka prints a topic ID as unpadded URL-safe base64 (Uuid.toString),
	// as kafka-topics.sh --describe shows it.
	return Identity{TopicID: base64.RawURLEncoding.EncodeToString(t.ID[:]), ClusterID: m.Cluster}, nil
}

// legacy reports an identity left empty: an object or manifest written
// before identities were recorded.
func (i Identity) legacy() bool { return i == Identity{} }

// identityRecord is the archive's claim of a connector's key space for one
// topic identity: <prefix>/_auditstream/identity-<connector>.json, written
// create-only by the first writer that records identities (Check). Every
// later writer of the same prefix and connector must have the same
// identity, or it refuses to start.
type identityRecord struct {
	Connector string `json:"connector"`
	Topic     string `json:"topic"`
	Identity
}

// identityMismatch is the error of a writer whose topic identity is not
// the archive's: its offsets are another topic's, and it would skip or
// adopt records as if they were written already. Only an operator can
// resolve it, so it is an UnauthorizedError: the runtime retries it at the
// slowest pace, and the sink stays not ready.
func (w *Writer) identityMismatch(where string, theirs Identity) error {
	return &sink.UnauthorizedError{Err: fmt.Errorf(
		"%s belongs to %s, but this sink consumes %s (topic %s): the offsets of one are not the records of the other. "+
			"The topic was created again, the pipeline moved to another cluster, topics.connector_prefix changed, or another "+
			"pipeline archives connector %s under the same bucket and prefix. Nothing was written or committed. "+
			"Give this pipeline its own s3.prefix (or a new connector id); see the README, \"A new topic under an old archive\"",
		where, theirs, w.identity, w.topic, w.layout.connector)}
}

// checkIdentity claims the connector's key space for the writer's
// identity, or checks that the archive's claim is the same identity. An
// archive with deliveries but no claim was written before identities were
// recorded: it is taken as this topic's, with a warning (the README says
// why that is the only safe moment to upgrade).
func (w *Writer) checkIdentity(ctx context.Context) error {
	if w.identity.legacy() {
		return nil // tests that do not care; main always sets it
	}
	key := w.layout.identityKey()
	body, err := json.Marshal(identityRecord{Connector: w.layout.connector, Topic: w.topic, Identity: w.identity})
	if err != nil {
		return fmt.Errorf("marshal identity: %w", err)
	}
	err = w.put(ctx, w.putInput(key, append(body, '\n'), "application/json", nil, true))
	switch {
	case err == nil:
		if old, err := w.hasManifests(ctx); err != nil {
			return err
		} else if old {
			w.log.Warn("the archive holds deliveries written before topic identities were recorded; they are taken as this topic's",
				"topic", w.topic, "topic_id", w.identity.TopicID, "cluster_id", w.identity.ClusterID)
		}
		w.log.Info("the archive's key space is claimed for this topic", "key", key, "topic_id", w.identity.TopicID,
			"cluster_id", w.identity.ClusterID)
		return nil
	case !isPreconditionFailed(err):
		return fmt.Errorf("put %s: %w", key, w.classify(err))
	}
	got, _, err := w.get(ctx, key, 64<<10)
	if err != nil {
		return err
	}
	var rec identityRecord
	if err := json.Unmarshal(got, &rec); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	if rec.Identity != w.identity {
		return w.identityMismatch(fmt.Sprintf("the archive at s3://%s/%s (claimed by topic %s)", w.bucket, key, rec.Topic), rec.Identity)
	}
	return nil
}

// hasManifests reports whether any manifest of the connector exists.
func (w *Writer) hasManifests(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(w.bucket),
		Prefix:  aws.String(w.layout.join("_manifests/" + w.layout.connector + "/")),
		MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return false, fmt.Errorf("list manifests: %w", w.classify(err))
	}
	return len(out.Contents) > 0, nil
}

// sameIdentity checks what an object or manifest records against the
// writer's identity. One without an identity is legacy, written before
// identities were recorded: Check took those as this topic's when it
// claimed the key space.
func (w *Writer) sameIdentity(where string, theirs Identity) error {
	if theirs.legacy() || w.identity.legacy() || theirs == w.identity {
		return nil
	}
	return w.identityMismatch(where, theirs)
}
