package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a size in bytes, written in YAML as a plain integer or with a
// unit: 512KiB, 5MB, 1MiB. Decimal (KB, MB) and binary (KiB, MiB) units mean
// what they say, because the Datadog limits are decimal and ours are binary.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses "5MB", "1MiB" or "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a whole number with an optional unit (KiB, MiB, KB, MB)", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML decodes a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return nodeError(n.Line, fmt.Sprintf("bad size %q: want a whole number with an optional unit (KiB, MiB, KB, MB)", n.Value))
	}
	*b = v
	return nil
}

// Duration is a time.Duration written as "100ms", "10s" or "168h".
type Duration time.Duration

// UnmarshalYAML decodes a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return nodeError(n.Line, fmt.Sprintf("bad duration %q: want a number with a unit (ms, s, m, h)", n.Value))
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
