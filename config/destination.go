package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Destination is a connector type's own part of the pipeline file: the
// block named by the type (s3: for type s3), its defaults, its validation
// and its secrets. The packages that deliver implement it, as Redpanda
// Connect's outputs own their specs, and Load takes them as options
// (WithDestinations). A file loaded without the destination of a type keeps
// that type's blocks undecoded: the router, which never reads one, loads so.
type Destination interface {
	// Type is the connector type, and the name of its block.
	Type() ConnectorType
	// Decode decodes, defaults and checks the connector's block, sets the
	// result as the connector's Settings, and reports every problem
	// through b, with its line.
	Decode(b *Block)
}

// Option changes how a file is loaded.
type Option func(*options)

type options struct {
	destinations map[ConnectorType]Destination
	redactField  func(name string) error
}

// WithDestinations decodes and checks the blocks of these connector types.
// A connector of a type none of them has is then an error.
func WithDestinations(ds ...Destination) Option {
	return func(o *options) {
		if o.destinations == nil {
			o.destinations = map[ConnectorType]Destination{}
		}
		for _, d := range ds {
			o.destinations[d.Type()] = d
		}
	}
}

// WithRedactFields checks each field name of every connector's redact
// lists with check, whose error is reported at the name's line. Without
// it, the names are not checked: the process that redacts knows the
// event's fields.
func WithRedactFields(check func(name string) error) Option {
	return func(o *options) { o.redactField = check }
}

// Block is one connector's destination block, given to its Destination to
// decode and check.
type Block struct {
	v         *validator
	connector *Connector
	index     int
	node      *yaml.Node
}

// Connector is the connector whose block this is: its id, and its batch
// limits, which a destination may default and bound.
func (b *Block) Connector() *Connector { return b.connector }

// Decode decodes the block into v strictly, as Load decodes the rest of
// the file: an unknown key or a bad value is reported at its line. It
// reports whether v was decoded without a problem.
func (b *Block) Decode(v any) bool {
	n := len(b.v.errs)
	b.v.unknownKeys(b.node, reflect.TypeOf(v))
	if err := b.node.Decode(v); err != nil {
		b.v.errs = append(b.v.errs, decodeErrors(b.v.file, err)...)
	}
	return len(b.v.errs) == n
}

// At reports a problem at a key path inside the block (keys and indexes:
// "credentials", "source"), or at the block when the path is absent.
func (b *Block) At(msg string, where ...any) {
	b.v.at(msg, append([]any{"connectors", b.index, string(b.connector.Type)}, where...)...)
}

// AtConnector reports a problem at a key path of the connector, outside
// the block ("batch", "max_events").
func (b *Block) AtConnector(msg string, where ...any) {
	b.v.at(msg, append([]any{"connectors", b.index}, where...)...)
}

// Secret checks a secret reference of the block, present when required,
// and records it as the connector's, so that Pipeline.CheckSecrets
// resolves it for the processes of this connector only. where is its key
// path inside the block.
func (b *Block) Secret(s Secret, required bool, where ...any) {
	b.v.secret(connectorSecret(b.connector.ID), s, required, append([]any{"connectors", b.index, string(b.connector.Type)}, where...)...)
}

// destination checks that the connector has its type's block and no
// other, and has the destination, when there is one, decode it.
func (v *validator) destination(c *Connector, i int, o *options) {
	at := func(msg string, where ...any) { v.at(msg, append([]any{"connectors", i}, where...)...) }
	for _, k := range slices.Sorted(maps.Keys(c.Blocks)) {
		if k != string(c.Type) {
			n := c.Blocks[k]
			v.errs = append(v.errs, &Error{File: v.file, Line: keyLine(v.root, i, k, n.Line), Msg: fmt.Sprintf("connectors[%d]: unknown key %q%s", i, k, blockHint(c.Type, k, o))})
		}
	}
	d, known := o.destinations[c.Type]
	switch {
	case c.Type == "":
		at("type is required", "type")
		return
	case len(o.destinations) > 0 && !known:
		at(fmt.Sprintf("unknown type %q (want %s)", c.Type, strings.Join(o.types(), " or ")), "type")
		return
	}
	n, ok := c.Blocks[string(c.Type)]
	if !ok {
		at(fmt.Sprintf("type %s needs a block %s:", c.Type, c.Type), "type")
		return
	}
	if known {
		d.Decode(&Block{v: v, connector: c, index: i, node: &n})
	}
}

// blockHint explains a block of another type than the connector's.
func blockHint(t ConnectorType, k string, o *options) string {
	if _, ok := o.destinations[ConnectorType(k)]; ok || len(o.destinations) == 0 {
		return fmt.Sprintf(": a connector of type %s takes only its %s: block", t, t)
	}
	return ""
}

func (o *options) types() []string {
	var ts []string
	for t := range o.destinations {
		ts = append(ts, string(t))
	}
	slices.Sort(ts)
	return ts
}

// keyLine is the line of connector i's key k, or def when it is not found.
func keyLine(root *yaml.Node, i int, k string, def int) int {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	c := index(child(n, "connectors"), i)
	if c == nil || c.Kind != yaml.MappingNode {
		return def
	}
	for j := 0; j+1 < len(c.Content); j += 2 {
		if c.Content[j].Value == k {
			return c.Content[j].Line
		}
	}
	return def
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// unknownKeys reports every key of n that t (a struct, or a pointer,
// slice or map of them) has no field for, as the strict decoder does for
// the rest of the file: yaml.Node.Decode has no strict mode.
func (v *validator) unknownKeys(n *yaml.Node, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		return // the type checks its own node (Secret, Duration)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				v.errs = append(v.errs, &Error{File: v.file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q", k.Value)})
				continue
			}
			v.unknownKeys(n.Content[i+1], ft)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				v.unknownKeys(c, t.Elem())
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				v.unknownKeys(n.Content[i], t.Elem())
			}
		}
	}
}

// yamlFields maps a struct's yaml keys to their fields' types, as the yaml
// package names them: the tag's name, else the field name in lower case;
// inline structs' fields are the struct's own.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		if strings.Contains(flags, "inline") && f.Type.Kind() == reflect.Struct {
			for k, ft := range yamlFields(f.Type) {
				out[k] = ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// DecodeBlock decodes the connector's destination block into v, leniently:
// keys v has no field for are ignored. It is for tools that read a few
// settings of a block (a check of the demo, the deployment tests) without
// the package that owns it; a process that delivers loads the file with
// its Destination instead.
func (c *Connector) DecodeBlock(v any) error {
	n, ok := c.Blocks[string(c.Type)]
	if !ok {
		return fmt.Errorf("connector %s has no %s block", c.ID, c.Type)
	}
	return n.Decode(v)
}
