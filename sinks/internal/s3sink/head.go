package s3sink

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Identity names what a partition's offsets belong to: Kafka's topic ID
// (the UUID a topic gets at creation, new when it is deleted and created
// again) and the cluster ID. Offsets mean the same records only under the
// same identity.
type Identity struct {
	TopicID   string `json:"topic_id"`
	ClusterID string `json:"cluster_id"`
}

func (i Identity) String() string {
	return fmt.Sprintf("topic ID %s in cluster %s", i.TopicID, i.ClusterID)
}

// Head is a partition's chain head as the sink records it outside the
// bucket, in a compacted Kafka topic (keyed by HeadKey) that the bucket's
// credentials cannot write: the archive's high-water mark. It only moves
// forward; a replay or a reset rewinds the consumer group, never the head.
type Head struct {
	Connector string `json:"connector"`
	Partition int32  `json:"partition"`
	Identity
	// Last is the last offset delivered, and SHA256 the sha256 of the
	// partition's last object, the one that holds it: what the next
	// delivery links to.
	Last   int64  `json:"last_offset"`
	SHA256 string `json:"sha256"`
	// Chain is the running chain value (chain-sha256) of that object: it
	// depends on every object of the chain up to Last, so that a
	// consistent rewrite of any of them shows at the head. "" in heads
	// that sinks recorded before objects carried it.
	Chain string `json:"chain,omitempty"`
	// Manifest is the key of the manifest of the delivery that ends at
	// Last.
	Manifest string `json:"manifest"`
}

// HeadKey is the record key of a partition's head.
func HeadKey(connector string, partition int32) string {
	return connector + "/" + strconv.FormatInt(int64(partition), 10)
}

// Encode returns the head as its record value.
func (h Head) Encode() []byte {
	b, err := json.Marshal(h)
	if err != nil { // strings and numbers always marshal
		panic(fmt.Sprintf("s3sink: marshal head: %v", err))
	}
	return b
}

// ParseHead decodes a head record's value.
func ParseHead(b []byte) (Head, error) {
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("decode head: %w", err)
	}
	if h.Connector == "" || h.Partition < 0 || h.Last < 0 || !isSHA256(h.SHA256) || (h.Chain != "" && !isSHA256(h.Chain)) {
		return h, fmt.Errorf("bad head %+v", h)
	}
	return h, nil
}
