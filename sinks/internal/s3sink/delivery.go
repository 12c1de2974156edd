package s3sink

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// delivery is the objects one writer claims with one anchor: the records of
// a batch (or of the part of it an earlier writer claimed), split by
// project and UTC hour. Its objects are in order of first offset, and the
// first one, which holds the delivery's first record, is the anchor.
type delivery struct {
	connector string
	partition int32
	start     int64 // the partition position the delivery begins at
	first     int64 // the first record's offset
	last      int64 // the last record's offset
	identity  Identity
	objects   []*object
}

// object is one S3 object of a delivery.
type object struct {
	key     string
	first   int64 // offset of its first record; in the key
	last    int64 // offset of its last record
	records int
	raw     int // uncompressed size
	content []byte
	sha256  string // hex sha256 of content
	// prev is the sha256 of the partition's object before this one, and
	// chain the object's running chain value (runningChain). They are set when
	// the object is about to be written, from what is stored.
	prev  string
	chain string
}

// link is what a delivery's anchor links to: the sha256 and the running
// chain value of the partition's object before it ("" and "" when a chain
// begins; the chain value alone is "" when that object was written before
// objects carried one).
type link struct {
	sha256 string
	chain  string
}

// linkTo is the link to object o, for the object after it.
func linkTo(o *object) link { return link{sha256: o.sha256, chain: o.chain} }

// runningChain is the running chain value of an object whose sha256 is sha, in
// a chain whose previous object has the chain value prev: the lowercase
// hex sha256 of the two lowercase hex strings concatenated (prev is "" at
// a chain start, and after an object without a chain value).
func runningChain(prev, sha string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte(sha))
	return hex.EncodeToString(h.Sum(nil))
}

// group is the items of one object, before encoding.
type group struct {
	project string
	hour    time.Time
	items   []batch.Item
}

// groupItems splits items (ascending offsets) by project and UTC hour of
// occurred, in order of each group's first item. An event without occurred
// (which validation prevents) is placed at the Unix epoch rather than
// dropped.
func groupItems(items []batch.Item) []*group {
	type id struct {
		project string
		hour    int64
	}
	var (
		out   []*group
		index = make(map[id]*group)
	)
	for _, it := range items {
		hour := it.Event.GetOccurred().AsTime().UTC().Truncate(time.Hour)
		k := id{it.Event.GetProjectId(), hour.Unix()}
		g, ok := index[k]
		if !ok {
			g = &group{project: k.project, hour: hour}
			index[k] = g
			out = append(out, g)
		}
		g.items = append(g.items, it)
	}
	return out
}

// build makes the delivery of items (non-empty, ascending offsets) that
// begins at start. Its content is a pure function of the items.
func build(l layout, enc *encoder, partition int32, start int64, items []batch.Item) (*delivery, error) {
	d := &delivery{
		connector: l.connector,
		partition: partition,
		start:     start,
		first:     items[0].Offset,
		last:      items[len(items)-1].Offset,
	}
	for _, g := range groupItems(items) {
		content, raw, err := enc.encode(g.items)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(content)
		first := g.items[0].Offset
		d.objects = append(d.objects, &object{
			key:     l.objectKey(g.project, g.hour, partition, first),
			first:   first,
			last:    g.items[len(g.items)-1].Offset,
			records: len(g.items),
			raw:     raw,
			content: content,
			sha256:  hex.EncodeToString(sum[:]),
		})
	}
	return d, nil
}

// object returns the delivery's object whose first record is at first.
func (d *delivery) object(first int64) *object {
	for _, o := range d.objects {
		if o.first == first {
			return o
		}
	}
	return nil
}

// anchor is the object that holds the delivery's first record.
func (d *delivery) anchor() *object { return d.objects[0] }

// String names the delivery in messages.
func (d *delivery) String() string {
	return fmt.Sprintf("partition %d offsets %d-%d", d.partition, d.first, d.last)
}

// chain sets every object's prev and chain from head, the link to the
// partition's object before the delivery, assuming every object is stored
// as built. Writers correct it object by object when an earlier writer's
// bytes differ (see Writer.complete).
func (d *delivery) chain(head link) {
	for _, o := range d.objects {
		o.prev = head.sha256
		o.chain = runningChain(head.chain, o.sha256)
		head = linkTo(o)
	}
}

// records counts the delivery's records.
func (d *delivery) records() int {
	n := 0
	for _, o := range d.objects {
		n += o.records
	}
	return n
}
