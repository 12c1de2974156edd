package s3sink

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseMeta checks the metadata parser on whatever a store might hand
// back: it never panics, and what it accepts is exactly what header()
// writes, so two different metadata maps never parse to the same
// delivery.
func FuzzParseMeta(f *testing.F) {
	good := objectMeta{connector: "s3", partition: 3, first: 10, last: 19, records: 10,
		sha256: strings.Repeat("ab", 32), prev: strings.Repeat("cd", 32), batchStart: 10, batchFirst: 10, batchLast: 29}
	f.Add("s3", "3", "10", "19", "10", good.sha256, good.prev, "10", "10", "29")
	f.Add("s3", "4294967299", "10", "19", "10", good.sha256, "", "10", "10", "29")
	f.Add("s3", "+3", "010", "19", "10", good.sha256, "", "10", "10", "29")
	f.Add("s3", "3", "-5", "19", "10", good.sha256, "", "10", "10", "29")
	f.Add("s3", "3", "19", "10", "10", good.sha256, "", "10", "10", "29")
	f.Add("s3", "3", "10", "19", "0", strings.Repeat("Z", 64), "x", "10", "10", "29")
	f.Fuzz(func(t *testing.T, conn, part, first, last, records, sum, prev, bs, bf, bl string) {
		h := map[string]string{metaConnector: conn, metaPartition: part, metaFirst: first, metaLast: last,
			metaRecords: records, metaSHA256: sum, metaPrevSHA256: prev, metaBatchStart: bs, metaBatchFirst: bf, metaBatchLast: bl}
		m, err := parseMeta(h)
		if err != nil {
			return
		}
		for k, v := range m.header() {
			if h[k] != v {
				t.Fatalf("parseMeta accepted %s=%q but means %q", k, h[k], v)
			}
		}
		if m.first > m.last || m.records < 1 || int64(m.records) > m.last-m.first+1 ||
			m.batchFirst > m.first || m.last > m.batchLast || m.batchStart > m.batchFirst {
			t.Fatalf("parseMeta accepted inconsistent offsets: %s", m.describe())
		}
	})
}

// FuzzParseManifest checks the manifest parser: no panic, and a manifest
// it accepts describes a delivery that could have been written.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"connector":"s3","partition":1,"start":0,"first":0,"last":9,"prev":"","head":"` + strings.Repeat("ab", 32) +
		`","objects":[{"key":"a/s3-1-00000000000000000000.ndjson.gz","first":0,"last":9,"records":10,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`))
	f.Add([]byte(`{"connector":"s3","partition":1,"start":0,"first":5,"last":2,"objects":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("parseManifest accepted what check refuses: %v", err)
		}
		end := int64(-1)
		for _, o := range m.Objects {
			if o.First < m.First || o.Last > m.Last || o.First > o.Last || !isSHA256(o.SHA256) {
				t.Fatalf("accepted manifest object %+v outside %d-%d", o, m.First, m.Last)
			}
			end = max(end, o.Last)
		}
		if m.Connector == "" || m.Start > m.First || end != m.Last || m.Head != m.Objects[len(m.Objects)-1].SHA256 {
			t.Fatalf("accepted manifest %+v", m)
		}
	})
}

// FuzzParseKeys checks that a key is recognized as an object or a manifest
// of the connector only when it is the very key the layout would write.
func FuzzParseKeys(f *testing.F) {
	l := newLayout("audit", "s3")
	f.Add(l.objectKey("P1", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 3, 42))
	f.Add(l.manifestKey(3, 43))
	f.Add("audit/P1/2026/11/25/10/s3-+3-00000000000000000042.ndjson.gz")
	f.Add("audit/_manifests/s3/9999999999/00000000000000000001.json")
	f.Fuzz(func(t *testing.T, key string) {
		if p, first, ok := l.parseObjectKey(key); ok {
			if p < 0 || first < 0 || !strings.HasSuffix(key, "/"+l.objectName(p, first)) && key != l.objectName(p, first) {
				t.Fatalf("parseObjectKey(%q) = %d, %d, which names %s", key, p, first, l.objectName(p, first))
			}
		}
		if p, next, ok := l.parseManifestKey(key); ok {
			if key != l.manifestKey(p, next) {
				t.Fatalf("parseManifestKey(%q) = %d, %d, which is %s", key, p, next, l.manifestKey(p, next))
			}
		}
	})
}

func TestParseMetaIsStrict(t *testing.T) {
	base := objectMeta{connector: "s3", partition: 3, first: 10, last: 19, records: 10,
		sha256: strings.Repeat("ab", 32), batchStart: 10, batchFirst: 10, batchLast: 29}
	if _, err := parseMeta(base.header()); err != nil {
		t.Fatalf("parseMeta of what header() writes: %v", err)
	}
	for _, tc := range []struct{ key, value string }{
		{metaPartition, "4294967299"}, // wraps to 3 as an int32
		{metaPartition, "+3"},
		{metaFirst, "010"},
		{metaFirst, "-1"},
		{metaFirst, "20"}, // after last
		{metaRecords, "0"},
		{metaRecords, "11"}, // more than the range holds
		{metaSHA256, strings.Repeat("ZZ", 32)},
		{metaPrevSHA256, "abc"},
		{metaBatchFirst, "11"}, // the object starts before its delivery
		{metaBatchLast, "18"},
		{metaBatchStart, "11"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			h := base.header()
			h[tc.key] = tc.value
			if m, err := parseMeta(h); err == nil {
				t.Fatalf("parseMeta accepted %s=%q as %s", tc.key, tc.value, m.describe())
			}
		})
	}
}
