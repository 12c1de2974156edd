package record

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Head is what routing reads of an event: its Meta, which the filters
// match, and the other fields that Validate checks.
type Head struct {
	Meta
	ID, Type string
	// occurred is the event's occurred, when it has one (hasOccurred).
	hasOccurred bool
	seconds     int64
	nanos       int32
	// Unknown is true when the event has fields this schema does not know
	// (at its top level): a newer producer's. They are kept, not dropped.
	Unknown bool
}

// Validate applies Validate to the event the head was read from. The
// fields it checks are all in the head.
func (h *Head) Validate() error {
	ev := auditv1.Event{Id: h.ID, ProjectId: h.Project, Action: h.Action, Type: h.Type, Tenants: h.Tenants}
	if h.hasOccurred {
		// A valid timestamp is as good as any other valid one to
		// Validate; only an invalid one needs a timestamp of its own,
		// allocated, for Validate to say why.
		if h.seconds >= minSeconds && h.seconds <= maxSeconds && h.nanos >= 0 && h.nanos < 1e9 {
			ev.Occurred = validTime
		} else {
			ev.Occurred = &timestamppb.Timestamp{Seconds: h.seconds, Nanos: h.nanos}
		}
	}
	return Validate(&ev)
}

// validTime stands in for an event's valid occurred in Head.Validate.
var validTime = &timestamppb.Timestamp{}

// The range of a valid Timestamp (timestamppb.Timestamp.CheckValid):
// 0001-01-01 to 9999-12-31, UTC.
const (
	minSeconds = -62135596800
	maxSeconds = 253402300799
)

// HeadOf returns the head of a decoded event.
func HeadOf(ev *auditv1.Event) Head {
	h := Head{Meta: MetaOf(ev), ID: ev.GetId(), Type: ev.GetType(), Unknown: len(ev.ProtoReflect().GetUnknown()) > 0}
	if ts := ev.GetOccurred(); ts != nil {
		h.hasOccurred, h.seconds, h.nanos = true, ts.GetSeconds(), ts.GetNanos()
	}
	return h
}

// ScanProtobuf reads the head of a protobuf event, and checks that the rest
// of the value decodes, without building it: a *DecodeError when
// Unmarshal(value, ContentTypeProtobuf) would fail, and only then. The
// router uses it to route on the value at a fraction of a decode's cost.
//
// The check walks every field as unwire.go decodes it (the same rules: a
// last singular value wins, strings must be valid UTF-8 down to the data's
// keys, unknown fields must be well formed). The few values whose data is
// nested deeper than unwire.go goes are decoded by Unmarshal instead.
//
// The head's strings share one copy of their bytes, not the value.
func ScanProtobuf(value []byte) (Head, error) {
	var s scan
	switch s.event(value) {
	case unwireOK:
	case unwireDeep:
		ev, err := Unmarshal(value, ContentTypeProtobuf)
		if err != nil {
			return Head{}, err
		}
		return HeadOf(ev), nil
	default:
		// For its error message.
		if _, err := Unmarshal(value, ContentTypeProtobuf); err != nil {
			return Head{}, err
		}
		return Head{}, &DecodeError{Format: "protobuf", Err: errScanDisagrees}
	}
	return s.head(), nil
}

var errScanDisagrees = errors.New("the value scans as invalid but decodes; please report this")

// scan holds what event found: slices of the value.
type scan struct {
	id, project, action, typ []byte
	tenants                  [4][]byte // the first ones
	more                     [][]byte  // the others
	ntenants                 int
	occurred                 bool
	seconds                  int64
	nanos                    int32
	unknown                  bool
}

// head copies the routing strings out of the value, in one allocation.
func (s *scan) head() Head {
	n := len(s.id) + len(s.project) + len(s.action) + len(s.typ)
	for i := range s.ntenants {
		n += len(s.tenant(i))
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range [...][]byte{s.id, s.project, s.action, s.typ} {
		b.Write(p)
	}
	for i := range s.ntenants {
		b.Write(s.tenant(i))
	}
	all, at := b.String(), 0
	take := func(p []byte) string {
		at += len(p)
		return all[at-len(p) : at]
	}
	h := Head{ID: take(s.id), Meta: Meta{Project: take(s.project), Action: take(s.action)}, Type: take(s.typ), Unknown: s.unknown}
	if s.ntenants > 0 {
		h.Tenants = make([]string, s.ntenants)
		for i := range h.Tenants {
			h.Tenants[i] = take(s.tenant(i))
		}
	}
	h.hasOccurred, h.seconds, h.nanos = s.occurred, s.seconds, s.nanos
	return h
}

// tenant returns the i-th tenant found.
func (s *scan) tenant(i int) []byte {
	if i < len(s.tenants) {
		return s.tenants[i]
	}
	return s.more[i-len(s.tenants)]
}

// event is decoder.event without building the event.
func (s *scan) event(b []byte) unwireResult {
	for len(b) > 0 {
		num, typ, v, n := nextField(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if typ == protowire.BytesType && num <= 15 {
			switch num {
			case 10:
				s.occurred = true
				if !s.timestamp(v) {
					return unwireInvalid
				}
				continue
			case 15:
				if r := scanStruct(v, 0); r != unwireOK {
					return r
				}
				continue
			}
			if !validUTF8(v) {
				return unwireInvalid
			}
			switch num {
			case 1:
				s.id = v
			case 2:
				s.project = v
			case 3:
				s.action = v
			case 4:
				s.typ = v
			case 8:
				if s.ntenants < len(s.tenants) {
					s.tenants[s.ntenants] = v
				} else {
					s.more = append(s.more, v)
				}
				s.ntenants++
			}
			continue
		}
		s.unknown = true
		if n = skip(num, typ, b); n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// skip consumes the value of a field that nextField read the tag of: a
// length-delimited one is consumed already.
func skip(num protowire.Number, typ protowire.Type, b []byte) int {
	if typ == protowire.BytesType {
		return 0
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}

// timestamp is decoder.timestamp: a second occurred merges into the first.
func (s *scan) timestamp(b []byte) bool {
	for len(b) > 0 {
		num, typ, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := consumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if num == 1 {
				s.seconds = int64(v)
			} else {
				s.nanos = int32(v)
			}
			continue
		}
		if n = skip(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// scanStruct is decoder.structFields without building the Struct.
func scanStruct(b []byte, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, e, n := nextField(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			if r := scanEntry(e, depth); r != unwireOK {
				return r
			}
			continue
		}
		if n = skip(num, typ, b); n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// scanEntry is decoder.entry without building the entry.
func scanEntry(b []byte, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, v, n := nextField(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			if num == 1 {
				if !validUTF8(v) {
					return unwireInvalid
				}
			} else if r := scanValue(v, depth); r != unwireOK {
				return r
			}
			continue
		}
		if n = skip(num, typ, b); n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// scanValue is decoder.value without building the Value.
func scanValue(b []byte, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, c, n := nextField(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 4) && typ == protowire.VarintType:
			if _, n = consumeVarint(b); n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			continue
		case num == 2 && typ == protowire.Fixed64Type:
			if _, n = protowire.ConsumeFixed64(b); n < 0 {
				return unwireInvalid
			}
			b = b[n:]
			continue
		case num >= 3 && num <= 6 && num != 4 && typ == protowire.BytesType:
			var r unwireResult
			switch num {
			case 3:
				if !validUTF8(c) {
					r = unwireInvalid
				}
			case 5:
				if depth >= maxNesting {
					return unwireDeep
				}
				r = scanStruct(c, depth+1)
			case 6:
				if depth >= maxNesting {
					return unwireDeep
				}
				r = scanList(c, depth+1)
			}
			if r != unwireOK {
				return r
			}
			continue
		}
		if n = skip(num, typ, b); n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// scanList is decoder.list without building the list.
func scanList(b []byte, depth int) unwireResult {
	for len(b) > 0 {
		num, typ, c, n := nextField(b)
		if n < 0 {
			return unwireInvalid
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			if r := scanValue(c, depth); r != unwireOK {
				return r
			}
			continue
		}
		if n = skip(num, typ, b); n < 0 {
			return unwireInvalid
		}
		b = b[n:]
	}
	return unwireOK
}

// nextField reads a field's tag and, when the field is length-delimited,
// its content v: n is then past the content, and otherwise past the tag
// alone. n is negative when the tag or the length is invalid. One-byte tags
// and lengths, most of an event's, are read in place.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, v []byte, n int) {
	if c := b[0]; c-8 < 0x80-8 {
		num, typ, n = protowire.Number(c>>3), protowire.Type(c&7), 1
	} else if num, typ, n = consumeTag(b); n < 0 {
		return 0, 0, nil, n
	}
	if typ != protowire.BytesType {
		return num, typ, nil, n
	}
	b = b[n:]
	if len(b) > 0 && int(b[0]) < min(len(b), 0x80) {
		return num, typ, b[1 : 1+b[0]], n + 1 + int(b[0])
	}
	v, m := consumeBytes(b)
	if m < 0 {
		return 0, 0, nil, m
	}
	return num, typ, v, n + m
}

// validUTF8 is utf8.Valid with an ASCII fast path, 8 bytes at a time, that
// costs less on the short strings of an event.
func validUTF8(v []byte) bool {
	for len(v) >= 8 {
		if binary.LittleEndian.Uint64(v)&0x8080808080808080 != 0 {
			return utf8.Valid(v)
		}
		v = v[8:]
	}
	for _, c := range v {
		if c >= utf8.RuneSelf {
			return utf8.Valid(v)
		}
	}
	return true
}
