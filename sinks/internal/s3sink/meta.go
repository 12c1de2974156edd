package s3sink

import (
	"fmt"
	"math"
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
	// chain-sha256: the running chain value (runningChain) of the partition's
	// objects up to this one. Objects written before it was recorded have
	// none.
	metaChainSHA256 = "chain-sha256"
	metaBatchStart  = "batch-start" // the delivery's start position
	metaBatchFirst  = "batch-first" // the delivery's first record: the anchor's first offset
	metaBatchLast   = "batch-last"  // the delivery's last record
	// The identity of the topic the offsets belong to (Identity). Objects
	// written before identities were recorded have neither.
	metaTopicID   = "topic-id"
	metaClusterID = "cluster-id"
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
	chain      string // "" when the object has no chain-sha256
	batchStart int64
	batchFirst int64
	batchLast  int64
	identity   Identity
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
		chain:      o.chain,
		batchStart: d.start,
		batchFirst: d.first,
		batchLast:  d.last,
		identity:   d.identity,
	}
}

// header returns the metadata as the SDK's Metadata map.
func (m objectMeta) header() map[string]string {
	h := map[string]string{
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
	if m.chain != "" {
		h[metaChainSHA256] = m.chain
	}
	if !m.identity.legacy() {
		h[metaTopicID], h[metaClusterID] = m.identity.TopicID, m.identity.ClusterID
	}
	return h
}

// parseMeta decodes an object's metadata as S3 returns it. Names are
// matched without regard to case, since stores differ in how they return
// them. Values are not: metadata is read as evidence, so only what
// header() writes is accepted (canonical decimals, lowercase hex), and the
// offsets must describe an object that a writer could have made.
func parseMeta(h map[string]string) (objectMeta, error) {
	lower := make(map[string]string, len(h))
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	var (
		m    objectMeta
		errs []string
	)
	num := func(name string, max int64) int64 {
		s, ok := lower[name]
		if !ok {
			errs = append(errs, name+" missing")
			return 0
		}
		n, ok := canonicalInt(s, max)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s %q is not a number from 0 to %d", name, s, max))
		}
		return n
	}
	m.connector = lower[metaConnector]
	m.partition = int32(num(metaPartition, math.MaxInt32))
	m.first = num(metaFirst, math.MaxInt64)
	m.last = num(metaLast, math.MaxInt64)
	m.records = int(num(metaRecords, math.MaxInt32))
	m.batchStart = num(metaBatchStart, math.MaxInt64)
	m.batchFirst = num(metaBatchFirst, math.MaxInt64)
	m.batchLast = num(metaBatchLast, math.MaxInt64)
	m.prev = lower[metaPrevSHA256]
	m.chain = lower[metaChainSHA256]
	m.identity = Identity{TopicID: lower[metaTopicID], ClusterID: lower[metaClusterID]}
	if (m.identity.TopicID == "") != (m.identity.ClusterID == "") {
		errs = append(errs, fmt.Sprintf("topic-id %q and cluster-id %q: one without the other", m.identity.TopicID, m.identity.ClusterID))
	}
	m.sha256 = lower[metaSHA256]
	if !isSHA256(m.sha256) {
		errs = append(errs, fmt.Sprintf("sha256 %q is not a hex sha256", m.sha256))
	}
	if m.prev != "" && !isSHA256(m.prev) {
		errs = append(errs, fmt.Sprintf("prev-sha256 %q is not a hex sha256", m.prev))
	}
	if m.chain != "" && !isSHA256(m.chain) {
		errs = append(errs, fmt.Sprintf("chain-sha256 %q is not a hex sha256", m.chain))
	}
	if m.connector == "" {
		errs = append(errs, "connector missing")
	}
	if len(errs) == 0 {
		switch {
		case m.first > m.last:
			errs = append(errs, fmt.Sprintf("first-offset %d is after last-offset %d", m.first, m.last))
		case m.records < 1 || int64(m.records) > m.last-m.first+1:
			errs = append(errs, fmt.Sprintf("record-count %d does not fit offsets %d-%d", m.records, m.first, m.last))
		case m.batchStart > m.batchFirst || m.batchFirst > m.first || m.last > m.batchLast:
			errs = append(errs, fmt.Sprintf("offsets %d-%d lie outside their delivery %d-%d (start %d)",
				m.first, m.last, m.batchFirst, m.batchLast, m.batchStart))
		}
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("bad auditstream metadata: %s", strings.Join(errs, "; "))
	}
	return m, nil
}

// canonicalInt parses a decimal from 0 to max, written as strconv writes
// it: no sign, no leading zero.
func canonicalInt(s string, max int64) (int64, bool) {
	if s == "" || !digits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n <= max
}

// isSHA256 reports whether s is a sha256 in lowercase hex.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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
