package s3sink

import (
	"encoding/json"
	"errors"
	"fmt"
)

// manifest records a finished delivery. It is written last, after every
// object of the delivery, under the key of the partition position that
// follows the delivery (see layout.manifestKey): its Head is the chain head
// that the next delivery's anchor links to. Its bytes are a pure function
// of the stored objects, so every writer that finishes the same delivery
// writes the same manifest.
type manifest struct {
	Connector string `json:"connector"`
	Partition int32  `json:"partition"`
	Start     int64  `json:"start"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
	Prev      string `json:"prev"` // the anchor's prev-sha256
	Head      string `json:"head"` // the sha256 of the delivery's last object
	// Chain is the running chain value (chain-sha256) of the delivery's
	// last object: with Head, what the next delivery links to. "" when
	// that object has none.
	Chain   string           `json:"chain,omitempty"`
	Objects []manifestObject `json:"objects"`
	// Identity (topic_id, cluster_id) is the topic the offsets belong to;
	// empty in manifests written before identities were recorded.
	Identity
}

// manifestObject is one object of a manifest's delivery.
type manifestObject struct {
	Key     string `json:"key"`
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
	Chain   string `json:"chain,omitempty"` // its chain-sha256
}

// manifestOf describes a delivery whose objects are all stored.
func manifestOf(d *delivery) *manifest {
	m := &manifest{
		Connector: d.connector,
		Partition: d.partition,
		Start:     d.start,
		First:     d.first,
		Last:      d.last,
		Prev:      d.anchor().prev,
		Head:      d.objects[len(d.objects)-1].sha256,
		Chain:     d.objects[len(d.objects)-1].chain,
		Identity:  d.identity,
	}
	for _, o := range d.objects {
		m.Objects = append(m.Objects, manifestObject{Key: o.key, First: o.first, Last: o.last, Records: o.records, SHA256: o.sha256, Chain: o.chain})
	}
	return m
}

// encode returns the manifest's JSON, one line.
func (m *manifest) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil { // a struct of strings and numbers always marshals
		panic(fmt.Sprintf("s3sink: marshal manifest: %v", err))
	}
	return append(b, '\n')
}

// parseManifest decodes a manifest, and checks that it describes a
// delivery a writer could have made: objects within its offsets, the
// first of them starting it, and a head that is the last one's sha256.
func parseManifest(b []byte) (*manifest, error) {
	m := new(manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("bad manifest: %w", err)
	}
	return m, nil
}

func (m *manifest) check() error {
	switch {
	case m.Connector == "":
		return errors.New("no connector")
	case m.Partition < 0 || m.Start < 0 || m.Start > m.First || m.First > m.Last:
		return fmt.Errorf("partition %d, start %d, offsets %d-%d", m.Partition, m.Start, m.First, m.Last)
	case len(m.Objects) == 0:
		return errors.New("no objects")
	case m.Prev != "" && !isSHA256(m.Prev):
		return fmt.Errorf("prev %q is not a hex sha256", m.Prev)
	case (m.TopicID == "") != (m.ClusterID == ""):
		return fmt.Errorf("topic_id %q and cluster_id %q: one without the other", m.TopicID, m.ClusterID)
	}
	// Objects are split by project and hour, so their ranges interleave;
	// each lies within the delivery, the first (the anchor) starts it, and
	// together they hold no more records than its offsets.
	end, records := int64(-1), 0
	for _, o := range m.Objects {
		if o.First < m.First || o.First > o.Last || o.Last > m.Last || o.Records < 1 ||
			int64(o.Records) > o.Last-o.First+1 || !isSHA256(o.SHA256) || (o.Chain != "" && !isSHA256(o.Chain)) {
			return fmt.Errorf("object %s (offsets %d-%d, %d records, sha256 %q) does not fit the delivery %d-%d",
				o.Key, o.First, o.Last, o.Records, o.SHA256, m.First, m.Last)
		}
		end, records = max(end, o.Last), records+o.Records
	}
	if m.Objects[0].First != m.First || end != m.Last || int64(records) > m.Last-m.First+1 {
		return fmt.Errorf("objects cover %d-%d with %d records, the delivery %d-%d", m.Objects[0].First, end, records, m.First, m.Last)
	}
	if head := m.Objects[len(m.Objects)-1].SHA256; head != m.Head {
		return fmt.Errorf("head %.12s is not the last object's sha256 %.12s", m.Head, head)
	}
	if chain := m.Objects[len(m.Objects)-1].Chain; chain != m.Chain {
		return fmt.Errorf("chain %.12s is not the last object's chain value %.12s", m.Chain, chain)
	}
	return nil
}
