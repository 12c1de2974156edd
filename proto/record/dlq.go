package record

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxDLQError caps the dlq-error header.
const maxDLQError = 4 << 10

// DeadLetter wraps a record that could not be processed for the dead-letter
// topic: the same key and value, the dlq-* headers first (stage, reason,
// error (at most 4 KiB), and where it was read), then the original headers.
func DeadLetter(r *kgo.Record, topic, stage, reason string, cause error) *kgo.Record {
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
	hs = append(hs, r.Headers...)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
}
