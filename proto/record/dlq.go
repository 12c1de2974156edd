package record

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxDLQError caps the dlq-error header.
const maxDLQError = 4 << 10

// maxDLQKey caps the key a dead letter keeps: a key is a producer's claim
// too, and only partitions the dead-letter topic.
const maxDLQKey = 1 << 10

// recordFraming is a generous bound on what Kafka adds to a record in a
// batch beyond its key, value and header bytes: the record's varints, and
// the batch header around a record produced alone.
const recordFraming = 128

// headerFraming bounds the varints Kafka writes around one header.
const headerFraming = 10

// Size is a record's size as the producer counts it against a batch limit:
// key, value and headers, uncompressed, plus framing. It errs on the large
// side.
func Size(r *kgo.Record) int {
	n := recordFraming + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += headerFraming + len(h.Key) + len(h.Value)
	}
	return n
}

// DeadLetter wraps a record that could not be processed for the dead-letter
// topic: the same key and value, the dlq-* headers first (stage, reason,
// error (at most 4 KiB), and where it was read), then the original headers.
//
// A dead letter can always be produced. When maxBytes > 0 and the whole
// dead letter would be larger than maxBytes (see Size), it is cut to fit:
// the original headers that do not fit are left out, and the value is
// truncated. Such a dead letter says so in dlq-truncated, and carries the
// original value's size and sha256 (dlq-original-bytes, dlq-original-sha256)
// and the number of headers left out (dlq-headers-dropped).
func DeadLetter(r *kgo.Record, topic, stage, reason string, cause error, maxBytes int) *kgo.Record {
	msg := reason
	if cause != nil {
		msg = cause.Error()
	}
	// The error may quote what a destination answered; keep the header
	// small, so that a dead letter fits wherever its record did.
	if len(msg) > maxDLQError {
		msg = strings.ToValidUTF8(msg[:maxDLQError], "") + "… (truncated)"
	}
	hs := make([]kgo.RecordHeader, 0, 6+len(r.Headers))
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderDLQStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	d := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: append(hs, r.Headers...)}
	if maxBytes <= 0 || Size(d) <= maxBytes {
		return d
	}
	return fit(d, r, len(hs), maxBytes)
}

// fit cuts a dead letter d of r, whose first own headers are its dlq-*
// headers, down to maxBytes.
func fit(d, r *kgo.Record, own, maxBytes int) *kgo.Record {
	sum := sha256.Sum256(r.Value)
	hs := d.Headers[:own:own]
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderDLQTruncated, Value: []byte("true")},
		kgo.RecordHeader{Key: HeaderDLQOriginalBytes, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)},
		kgo.RecordHeader{Key: HeaderDLQOriginalSHA256, Value: []byte(hex.EncodeToString(sum[:]))},
		kgo.RecordHeader{Key: HeaderDLQHeadersDropped, Value: nil}, // set below
	)
	key := r.Key
	if len(key) > maxDLQKey {
		key = key[:maxDLQKey]
	}
	d = &kgo.Record{Topic: d.Topic, Key: key, Headers: hs}
	// Room for the dropped count's digits, then for the original headers,
	// in order, up to half of what is left; the value takes the rest.
	room := maxBytes - Size(d) - 20
	headerRoom := room / 2
	kept := 0
	for _, h := range r.Headers {
		n := headerFraming + len(h.Key) + len(h.Value)
		if n > headerRoom {
			break
		}
		headerRoom -= n
		room -= n
		kept++
	}
	d.Headers = append(d.Headers, r.Headers[:kept]...)
	d.Headers[own+3].Value = strconv.AppendInt(nil, int64(len(r.Headers)-kept), 10)
	if room < 0 {
		room = 0
	}
	d.Value = r.Value[:min(len(r.Value), room)]
	return d
}
