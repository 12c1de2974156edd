package record

import (
	"bytes"
	"fmt"
	"slices"

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
// topic is left to the caller. The record's slices share one allocation.
func Marshal(ev *auditv1.Event, enc Encoding) (*kgo.Record, error) {
	r := new(kgo.Record)
	if _, err := MarshalInto(r, nil, ev, enc); err != nil {
		return nil, err
	}
	return r, nil
}

// valueRoom is the room MarshalInto makes for a value beyond the key and
// headers: a typical audit event fits.
const valueRoom = 1 << 10

// MarshalInto is Marshal for callers that reuse records and buffers. It sets
// r's Key, Value and Headers, reusing the capacity of r.Headers, and writes
// their bytes into buf, growing it when it is too small. It returns the
// buffer, which backs r's slices until r is done with: for franz-go, until
// the record's promise has returned. The other fields of r are left alone.
func MarshalInto(r *kgo.Record, buf []byte, ev *auditv1.Event, enc Encoding) ([]byte, error) {
	ct, ts := enc.contentType(), ev.GetTenants()
	var first string // the key's tenant
	if len(ts) > 0 {
		first = ts[0]
	}
	size := len(ev.GetProjectId()) + 1 + len(first) + len(ct) + len(ev.GetProjectId()) + len(ev.GetAction())
	for _, t := range ts {
		size += len(t)
	}
	// The value is written after the key and headers, growing buf if need
	// be; a pooled buffer has the room of the events before.
	buf = slices.Grow(buf[:0], size+valueRoom)

	// take appends s to buf and returns it as a slice of its own.
	take := func(s ...string) []byte {
		start := len(buf)
		for _, p := range s {
			buf = append(buf, p...)
		}
		return buf[start:len(buf):len(buf)]
	}
	r.Key = take(ev.GetProjectId(), "/", first)
	hs := r.Headers[:0]
	if cap(hs) < 3+len(ts) {
		hs = make([]kgo.RecordHeader, 0, 3+len(ts))
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderContentType, Value: take(ct)},
		kgo.RecordHeader{Key: HeaderProject, Value: take(ev.GetProjectId())},
		kgo.RecordHeader{Key: HeaderAction, Value: take(ev.GetAction())},
	)
	for _, t := range ts {
		hs = append(hs, kgo.RecordHeader{Key: HeaderTenant, Value: take(t)})
	}
	r.Headers = hs

	start := len(buf)
	switch {
	case enc == JSON:
		var err error
		if buf, err = jsonOut.MarshalAppend(buf, ev); err != nil {
			return buf, fmt.Errorf("encode event %s: %w", ev.GetId(), err)
		}
	case ev == nil:
		// proto.Marshal encodes a nil event as nothing; so does this.
	default:
		var ok bool
		if buf, ok = appendEvent(buf, ev); !ok {
			// A string is not valid UTF-8, and proto.Marshal says which;
			// or the data is nested deeper than appendEvent goes.
			v, err := proto.Marshal(ev)
			if err != nil {
				return buf, fmt.Errorf("encode event %s: %w", ev.GetId(), err)
			}
			buf = append(buf[:start], v...)
		}
	}
	r.Value = buf[start:len(buf):len(buf)]
	return buf, nil
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

var jsonOut = protojson.MarshalOptions{}

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
	switch contentType {
	case ContentTypeProtobuf, "application/protobuf":
		if ev, r := unmarshalEvent(value); r == unwireOK {
			return ev, nil
		}
		// Invalid, for proto.Unmarshal's error, or nested too deep for
		// unmarshalEvent.
		ev := new(auditv1.Event)
		if err := proto.Unmarshal(value, ev); err != nil {
			return nil, &DecodeError{Format: "protobuf", Err: err}
		}
		return ev, nil
	case ContentTypeJSON:
		if ev, _, ok := unmarshalJSONEvent(value); ok {
			return ev, nil
		}
		ev := new(auditv1.Event)
		if err := jsonIn.Unmarshal(value, ev); err != nil {
			return nil, &DecodeError{Format: "json", Err: err}
		}
		return ev, nil
	default:
		return nil, &DecodeError{Format: contentType, Err: errUnknownContentType}
	}
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
