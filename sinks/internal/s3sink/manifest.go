package s3sink

import (
	"encoding/json"
	"fmt"
)

// manifest records a finished delivery. It is written last, after every
// object of the delivery, under the key of the partition position that
// follows the delivery (see layout.manifestKey): its Head is the chain head
// that the next delivery's anchor links to. Its bytes are a pure function
// of the stored objects, so every writer that finishes the same delivery
// writes the same manifest.
type manifest struct {
	Connector string           `json:"connector"`
	Partition int32            `json:"partition"`
	Start     int64            `json:"start"`
	First     int64            `json:"first"`
	Last      int64            `json:"last"`
	Prev      string           `json:"prev"` // the anchor's prev-sha256
	Head      string           `json:"head"` // the sha256 of the delivery's last object
	Objects   []manifestObject `json:"objects"`
}

// manifestObject is one object of a manifest's delivery.
type manifestObject struct {
	Key     string `json:"key"`
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
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
	}
	for _, o := range d.objects {
		m.Objects = append(m.Objects, manifestObject{Key: o.key, First: o.first, Last: o.last, Records: o.records, SHA256: o.sha256})
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

// parseManifest decodes a manifest.
func parseManifest(b []byte) (*manifest, error) {
	m := new(manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return m, nil
}
