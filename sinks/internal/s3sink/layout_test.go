package s3sink

import (
	"testing"
	"time"
)

func TestObjectKey(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name      string
		prefix    string
		connector string
		project   string
		occurred  time.Time
		partition int32
		first     int64
		want      string
	}{
		{"no prefix", "", "s3-archive", "P001", time.Date(2026, 3, 4, 5, 59, 59, 0, time.UTC), 0, 0,
			"P001/2026/03/04/05/s3-archive-0-00000000000000000000.ndjson.gz"},
		{"prefix", "audit", "c", "P001", time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC), 12, 1234567,
			"audit/P001/2026/11/25/23/c-12-00000000000001234567.ndjson.gz"},
		{"slashes trimmed", "/a/b/", "c", "P1", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 3, 9,
			"a/b/P1/2026/01/02/03/c-3-00000000000000000009.ndjson.gz"},
		{"hour in UTC", "x", "c", "P1", time.Date(2026, 12, 31, 21, 30, 0, 0, est), 1, 5,
			"x/P1/2027/01/01/02/c-1-00000000000000000005.ndjson.gz"},
		{"largest offset", "", "c", "P1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2147483647, 9223372036854775807,
			"P1/2026/01/01/00/c-2147483647-09223372036854775807.ndjson.gz"},
		{"unsafe project", "", "c", "../etc", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, 1,
			"_invalid/2026/01/01/00/c-0-00000000000000000001.ndjson.gz"},
		{"reserved project", "p", "c", "_manifests", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, 1,
			"p/_invalid/2026/01/01/00/c-0-00000000000000000001.ndjson.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayout(tt.prefix, tt.connector)
			hour := tt.occurred.UTC().Truncate(time.Hour)
			got := l.objectKey(tt.project, hour, tt.partition, tt.first)
			if got != tt.want {
				t.Errorf("objectKey: got %s, want %s", got, tt.want)
			}
			p, first, ok := l.parseObjectKey(got)
			if !ok || p != tt.partition || first != tt.first {
				t.Errorf("parseObjectKey(%s): got %d, %d, %v; want %d, %d, true", got, p, first, ok, tt.partition, tt.first)
			}
		})
	}
}

func TestParseObjectKeyIgnoresOtherConnectors(t *testing.T) {
	tests := []struct {
		connector string
		key       string
		want      bool
	}{
		{"s3", "P1/2026/01/01/00/s3-0-00000000000000000001.ndjson.gz", true},
		{"s3", "P1/2026/01/01/00/s3-2-0-00000000000000000001.ndjson.gz", false},         // connector s3-2
		{"s3", "P1/2026/01/01/00/s3-x-0-00000000000000000001.ndjson.gz", false},         // connector s3-x
		{"s3-2", "P1/2026/01/01/00/s3-0-00000000000000000001.ndjson.gz", false},         // connector s3
		{"s3", "P1/2026/01/01/00/s3-0-0000000000000000001.ndjson.gz", false},            // 19 digits
		{"s3", "P1/2026/01/01/00/s3-0-00000000000000000001.ndjson", false},              // no .gz
		{"s3", "_manifests/s3/0/00000000000000000001.json", false},                      // a manifest
		{"s3", "_auditstream/probe-0123456789abcdef", false},                            // the probe
		{"s3", "P1/2026/01/01/00/s3--1-00000000000000000001.ndjson.gz", false},          // negative partition
		{"a-1", "P1/2026/01/01/00/a-1-2-00000000000000000003.ndjson.gz", true},          // connector a-1, partition 2
		{"a", "P1/2026/01/01/00/a-1-2-00000000000000000003.ndjson.gz", false},           // not connector a
		{"a", "P1/2026/01/01/00/a-1-00000000000000000003.ndjson.gz", true},              // connector a, partition 1
		{"a-1", "P1/2026/01/01/00/a-1-00000000000000000003.ndjson.gz", false},           // not connector a-1
		{"s3", "P1/2026/01/01/00/s3-99999999999-00000000000000000001.ndjson.gz", false}, // partition overflows int32
	}
	for _, tt := range tests {
		_, _, got := newLayout("", tt.connector).parseObjectKey(tt.key)
		if got != tt.want {
			t.Errorf("connector %s, key %s: got %v, want %v", tt.connector, tt.key, got, tt.want)
		}
	}
}

func TestManifestKey(t *testing.T) {
	tests := []struct {
		prefix    string
		partition int32
		next      int64
		want      string
	}{
		{"", 0, 101, "_manifests/c/0/00000000000000000101.json"},
		{"audit/", 7, 0, "audit/_manifests/c/7/00000000000000000000.json"},
		{"a/b", 12, 9223372036854775807, "a/b/_manifests/c/12/09223372036854775807.json"},
	}
	for _, tt := range tests {
		l := newLayout(tt.prefix, "c")
		got := l.manifestKey(tt.partition, tt.next)
		if got != tt.want {
			t.Errorf("manifestKey(%q, %d, %d): got %s, want %s", tt.prefix, tt.partition, tt.next, got, tt.want)
		}
		p, next, ok := l.parseManifestKey(got)
		if !ok || p != tt.partition || next != tt.next {
			t.Errorf("parseManifestKey(%s): got %d, %d, %v; want %d, %d, true", got, p, next, ok, tt.partition, tt.next)
		}
		if _, _, ok := newLayout(tt.prefix, "c-2").parseManifestKey(got); ok {
			t.Errorf("connector c-2 parsed connector c's manifest %s", got)
		}
	}
}

func TestProbeKey(t *testing.T) {
	if got, want := newLayout("/audit/", "c").probeKey("ab12"), "audit/_auditstream/probe-ab12"; got != want {
		t.Errorf("probeKey: got %s, want %s", got, want)
	}
}
