package s3sink

import (
	"fmt"
	"strconv"
	"strings"
)

// The user metadata (x-amz-meta-*) every data object carries.
const (
	metaConnector  = "connector"
	metaPartition  = "partition"
	metaFirst      = "first-offset"
	metaLast       = "last-offset"
	metaRecords    = "record-count"
	metaSHA256     = "sha256"      // hex sha256 of the object's bytes (the gzip)
	metaPrevSHA256 = "prev-sha256" // the partition's previous object's sha256; "" for the first
	metaBatchStart = "batch-start" // the delivery's start position
	metaBatchFirst = "batch-first" // the delivery's first record: the anchor's first offset
	metaBatchLast  = "batch-last"  // the delivery's last record
)

// objectMeta is a data object's metadata, decoded.
type objectMeta struct {
	connector  string
	partition  int32
	first      int64
	last       int64
	records    int
	sha256     string
	prev       string
	batchStart int64
	batchFirst int64
	batchLast  int64
}

// metaOf is the metadata of object o of delivery d.
func metaOf(d *delivery, o *object) objectMeta {
	return objectMeta{
		connector:  d.connector,
		partition:  d.partition,
		first:      o.first,
		last:       o.last,
		records:    o.records,
		sha256:     o.sha256,
		prev:       o.prev,
		batchStart: d.start,
		batchFirst: d.first,
		batchLast:  d.last,
	}
}

// header returns the metadata as the SDK's Metadata map.
func (m objectMeta) header() map[string]string {
	return map[string]string{
		metaConnector:  m.connector,
		metaPartition:  strconv.FormatInt(int64(m.partition), 10),
		metaFirst:      strconv.FormatInt(m.first, 10),
		metaLast:       strconv.FormatInt(m.last, 10),
		metaRecords:    strconv.Itoa(m.records),
		metaSHA256:     m.sha256,
		metaPrevSHA256: m.prev,
		metaBatchStart: strconv.FormatInt(m.batchStart, 10),
		metaBatchFirst: strconv.FormatInt(m.batchFirst, 10),
		metaBatchLast:  strconv.FormatInt(m.batchLast, 10),
	}
}

// parseMeta decodes an object's metadata as S3 returns it. Names are
// matched without regard to case, since stores differ in how they return
// them.
func parseMeta(h map[string]string) (objectMeta, error) {
	lower := make(map[string]string, len(h))
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	var (
		m    objectMeta
		errs []string
	)
	num := func(name string) int64 {
		s, ok := lower[name]
		if !ok {
			errs = append(errs, name+" missing")
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %q is not a number", name, s))
		}
		return n
	}
	m.connector = lower[metaConnector]
	m.partition = int32(num(metaPartition))
	m.first = num(metaFirst)
	m.last = num(metaLast)
	m.records = int(num(metaRecords))
	m.batchStart = num(metaBatchStart)
	m.batchFirst = num(metaBatchFirst)
	m.batchLast = num(metaBatchLast)
	m.prev = lower[metaPrevSHA256]
	var ok bool
	if m.sha256, ok = lower[metaSHA256]; !ok || len(m.sha256) != 64 {
		errs = append(errs, fmt.Sprintf("sha256 %q is not a hex sha256", m.sha256))
	}
	if m.connector == "" {
		errs = append(errs, "connector missing")
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("bad auditstream metadata: %s", strings.Join(errs, "; "))
	}
	return m, nil
}

// sameRecords reports whether two objects' metadata describe the same
// records of the same delivery: the same offsets and count, whatever the
// bytes.
func (m objectMeta) sameRecords(o objectMeta) bool {
	return m.connector == o.connector && m.partition == o.partition &&
		m.first == o.first && m.last == o.last && m.records == o.records &&
		m.batchFirst == o.batchFirst && m.batchLast == o.batchLast
}

// describe summarizes the metadata for messages.
func (m objectMeta) describe() string {
	return fmt.Sprintf("offsets %d-%d (%d records) of delivery %d-%d, sha256 %.12s, prev %.12s",
		m.first, m.last, m.records, m.batchFirst, m.batchLast, m.sha256, m.prev)
}
