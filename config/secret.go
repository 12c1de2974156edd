package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a reference to a secret value held in an environment variable or
// a file. It never holds the value itself, and it formats as its reference
// (env:NAME or file:PATH), so printing a config never prints a secret.
type Secret struct {
	Env  string
	File string
}

// IsSet reports whether the reference names a source.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" }

// Resolve reads the secret from its source. A file's trailing newline is
// trimmed, since most tools that write key files add one. Errors name the
// source, never the value.
func (s Secret) Resolve() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return "", fmt.Errorf("secret file %s: %v", s.File, pe.Err)
			}
			return "", fmt.Errorf("secret file %s: %v", s.File, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	}
	return "", errors.New("no secret reference")
}

// String returns the reference, never the value.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	}
	return "unset"
}

// LogValue makes slog print the reference, never the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// UnmarshalYAML accepts only {env: NAME} or {file: PATH}. An inline scalar is
// rejected: a secret written into the config file would end up in version
// control, in backups and in support bundles.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nodeError(n.Line, "secrets are never inline: write {env: NAME} or {file: PATH}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nodeError(v.Line, fmt.Sprintf("secret %s: want a string", k.Value))
		}
		switch k.Value {
		case "env":
			s.Env = v.Value
		case "file":
			s.File = v.Value
		default:
			return nodeError(k.Line, fmt.Sprintf("unknown key %q in secret reference (want env or file)", k.Value))
		}
	}
	if s.Env != "" && s.File != "" {
		return nodeError(n.Line, "secret reference: give env or file, not both")
	}
	if !s.IsSet() {
		return nodeError(n.Line, "secret reference: give env or file")
	}
	return nil
}

// nodeError reports a problem found while decoding a node. It is a
// yaml.TypeError so that the decoder keeps going and Load reports every
// problem in the file at once, not only the first.
func nodeError(line int, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", line, msg)}}
}
