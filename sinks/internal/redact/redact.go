// Package redact removes sensitive fields from audit events before a sink
// delivers them: each connector can drop a field, mask it ("***"), or hash
// it (hex sha256 of a secret salt and the value, so equal values still
// correlate across events without revealing them).
//
// Fields are named by their JSON names: remoteAddress, loginIds, userId,
// and data.<key>[.<key>...] for entries of the free-form data object. The
// fields that identify and place an event (id, projectId, action, occurred)
// cannot be redacted; CheckField, given to the loader, rejects them.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/auditstream/auditstream/config"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// Mask is what a masked value becomes.
const Mask = "***"

type action int

const (
	drop action = iota
	mask
	hash
)

type op struct {
	act   action
	field protoreflect.FieldDescriptor // a top-level field, or nil for data paths
	path  []string                     // the keys under data
}

// Rules is a connector's compiled redaction.
type Rules struct {
	ops  []op
	salt []byte
}

// New compiles a redaction config. The hash salt is read from its
// reference now; a sink restarts to pick up a new salt, since changing it
// changes every hashed value.
func New(r config.Redaction) (*Rules, error) {
	out := &Rules{}
	for _, l := range []struct {
		act    action
		fields []string
	}{{drop, r.Drop}, {mask, r.Mask}, {hash, r.Hash}} {
		for _, name := range l.fields {
			o, err := compile(l.act, name)
			if err != nil {
				return nil, err
			}
			out.ops = append(out.ops, o)
		}
	}
	if len(r.Hash) > 0 {
		salt, err := r.Salt.Resolve()
		if err != nil {
			return nil, fmt.Errorf("redact salt: %w", err)
		}
		out.salt = []byte(salt)
	}
	return out, nil
}

func compile(act action, name string) (op, error) {
	if err := CheckField(name); err != nil {
		return op{}, err
	}
	if rest, ok := strings.CutPrefix(name, "data."); ok {
		return op{act: act, path: strings.Split(rest, ".")}, nil
	}
	fd := (&auditv1.Event{}).ProtoReflect().Descriptor().Fields().ByJSONName(name)
	return op{act: act, field: fd}, nil
}

// Empty reports whether the rules change nothing.
func (r *Rules) Empty() bool { return len(r.ops) == 0 }

// Apply redacts an event in place.
func (r *Rules) Apply(ev *auditv1.Event) {
	m := ev.ProtoReflect()
	for _, o := range r.ops {
		if o.field == nil {
			r.data(ev, o)
			continue
		}
		if !m.Has(o.field) {
			continue
		}
		if o.act == drop {
			m.Clear(o.field)
			continue
		}
		if o.field.IsList() {
			list := m.Mutable(o.field).List()
			for i := range list.Len() {
				list.Set(i, protoreflect.ValueOfString(r.value(o.act, list.Get(i).String())))
			}
			continue
		}
		m.Set(o.field, protoreflect.ValueOfString(r.value(o.act, m.Get(o.field).String())))
	}
}

// data redacts an entry of the data object.
func (r *Rules) data(ev *auditv1.Event, o op) {
	s := ev.GetData()
	for i, key := range o.path {
		if s == nil {
			return
		}
		v, ok := s.GetFields()[key]
		if !ok {
			return
		}
		if i < len(o.path)-1 {
			s = v.GetStructValue()
			continue
		}
		switch o.act {
		case drop:
			delete(s.Fields, key)
		case mask:
			s.Fields[key] = structpb.NewStringValue(Mask)
		case hash:
			plain := v.GetStringValue()
			if _, isString := v.GetKind().(*structpb.Value_StringValue); !isString {
				b, _ := protojson.Marshal(v) // a structpb.Value always encodes
				plain = string(b)
			}
			s.Fields[key] = structpb.NewStringValue(r.value(hash, plain))
		}
	}
}

func (r *Rules) value(act action, v string) string {
	if act == mask {
		return Mask
	}
	h := sha256.New()
	h.Write(r.salt)
	h.Write([]byte(v))
	return hex.EncodeToString(h.Sum(nil))
}
