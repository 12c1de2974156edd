package record

import (
	"bytes"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Encoding is the format of a record value.
type Encoding int

// The encodings.
const (
	Protobuf Encoding = iota
	JSON
)

func (e Encoding) contentType() string {
	if e == JSON {
		return ContentTypeJSON
	}
	return ContentTypeProtobuf
}

// Marshal turns an event into a record with key, value and headers. The
// topic is left to the caller.
func Marshal(ev *auditv1.Event, enc Encoding) (*kgo.Record, error) {
	var (
		value []byte
		err   error
	)
	if enc == JSON {
		value, err = protojson.Marshal(ev)
	} else {
		value, err = proto.Marshal(ev)
	}
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.GetId(), err)
	}
	headers := make([]kgo.RecordHeader, 0, 3+len(ev.GetTenants()))
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderContentType, Value: []byte(enc.contentType())},
		kgo.RecordHeader{Key: HeaderProject, Value: []byte(ev.GetProjectId())},
		kgo.RecordHeader{Key: HeaderAction, Value: []byte(ev.GetAction())},
	)
	for _, t := range ev.GetTenants() {
		headers = append(headers, kgo.RecordHeader{Key: HeaderTenant, Value: []byte(t)})
	}
	return &kgo.Record{Key: Key(ev), Value: value, Headers: headers}, nil
}

// Key is the partitioning key: the project id and the first tenant.
func Key(ev *auditv1.Event) []byte {
	p, ts := ev.GetProjectId(), ev.GetTenants()
	k := make([]byte, 0, len(p)+1+32)
	k = append(k, p...)
	k = append(k, '/')
	if len(ts) > 0 {
		k = append(k, ts[0]...)
	}
	return k
}

// jsonIn accepts fields a newer schema may add: a record from a newer
// producer should not land in the dead-letter topic because this reader is
// older. Protobuf binary keeps unknown fields the same way.
var jsonIn = protojson.UnmarshalOptions{DiscardUnknown: true}

// Unmarshal decodes a record value. contentType is the content-type header's
// value, or "" when there is none.
func Unmarshal(value []byte, contentType string) (*auditv1.Event, error) {
	if contentType == "" {
		contentType = Detect(value)
	}
	ev := new(auditv1.Event)
	switch contentType {
	case ContentTypeProtobuf, "application/protobuf":
		if err := proto.Unmarshal(value, ev); err != nil {
			return nil, &DecodeError{Format: "protobuf", Err: err}
		}
	case ContentTypeJSON:
		if err := jsonIn.Unmarshal(value, ev); err != nil {
			return nil, &DecodeError{Format: "json", Err: err}
		}
	default:
		return nil, &DecodeError{Format: contentType, Err: errUnknownContentType}
	}
	return ev, nil
}

// Detect guesses a value's content type: JSON when its first non-blank byte
// is '{', protobuf otherwise. An Event in protobuf never starts with '{'
// (0x7b would be field 15, wire type 3, a deprecated group).
func Detect(value []byte) string {
	if v := bytes.TrimLeft(value, " \t\r\n"); len(v) > 0 && v[0] == '{' {
		return ContentTypeJSON
	}
	return ContentTypeProtobuf
}

// Decode decodes a Kafka record's value using its content-type header.
func Decode(r *kgo.Record) (*auditv1.Event, error) {
	return Unmarshal(r.Value, HeaderValue(r.Headers, HeaderContentType))
}

// HeaderValue returns the first value of a header, or "".
func HeaderValue(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
