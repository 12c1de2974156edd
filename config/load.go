package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a configuration error: the file, the line and the reason.
type Error struct {
	File string
	Line int // 0 when the problem has no single line (a missing section)
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads, decodes, defaults and validates a pipeline file. Its error is
// an Errors value naming the file and line of every problem. Secret
// references are checked for their shape only: a process resolves the
// secrets it uses with CheckSecrets.
func Load(path string, opts ...Option) (*Pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b, opts...)
}

// Parse is Load for a file already read; path is used in messages.
func Parse(path string, b []byte, opts ...Option) (*Pipeline, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, Errors{yamlError(path, err)}
	}
	var p Pipeline
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeErrors(path, err)
	}
	p.Path = path
	p.applyDefaults()
	v := validator{file: path, root: &root}
	v.pipeline(&p, &o)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	p.root, p.secrets = &root, v.secrets
	return &p, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml syntax error into a file:line error.
func yamlError(path string, err error) *Error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: n, Msg: m[2]}
	}
	return &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// decodeErrors splits a yaml.TypeError into one Error per problem, with the
// decoder's wording made plainer ("field x not found in type config.Batch"
// becomes "unknown key \"x\"").
func decodeErrors(path string, err error) Errors {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{yamlError(path, err)}
	}
	var out Errors
	for _, s := range te.Errors {
		e := yamlError(path, errors.New(s))
		if m := unknownField.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("unknown key %q", m[1])
		}
		out = append(out, e)
	}
	return out
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type`)
