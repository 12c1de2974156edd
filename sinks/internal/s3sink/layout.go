package s3sink

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
)

// layout names a connector's objects and manifests in its bucket.
type layout struct {
	prefix    string // without leading or trailing slashes; may be empty
	connector string
}

func newLayout(prefix, connector string) layout {
	return layout{prefix: strings.Trim(prefix, "/"), connector: connector}
}

// join puts the prefix in front of a relative key.
func (l layout) join(rel string) string {
	if l.prefix == "" {
		return rel
	}
	return l.prefix + "/" + rel
}

// listPrefix is the key prefix under which every object of the layout
// lives: "" or "<prefix>/".
func (l layout) listPrefix() string {
	if l.prefix == "" {
		return ""
	}
	return l.prefix + "/"
}

// objectKey is the key of a data object:
// <prefix>/<project>/<YYYY>/<MM>/<DD>/<HH>/<connector>-<partition>-<first offset, 20 digits>.ndjson.gz.
// hour must be in UTC.
func (l layout) objectKey(project string, hour time.Time, partition int32, first int64) string {
	return l.join(fmt.Sprintf("%s/%04d/%02d/%02d/%02d/%s",
		projectDir(project), hour.Year(), hour.Month(), hour.Day(), hour.Hour(), l.objectName(partition, first)))
}

// objectName is the file name of a data object.
func (l layout) objectName(partition int32, first int64) string {
	return fmt.Sprintf("%s-%d-%020d.ndjson.gz", l.connector, partition, first)
}

// manifestDir is where a partition's manifests live.
func (l layout) manifestDir(partition int32) string {
	return l.join(fmt.Sprintf("_manifests/%s/%d/", l.connector, partition))
}

// manifestKey is the key of the manifest of the delivery that ends just
// before next: <prefix>/_manifests/<connector>/<partition>/<next, 20 digits>.json.
// It is named by the next delivery's start so that a writer resuming at a
// committed offset finds the chain head under that offset.
func (l layout) manifestKey(partition int32, next int64) string {
	return l.manifestDir(partition) + fmt.Sprintf("%020d.json", next)
}

// identityKey is the key of the archive's claim of the connector's key
// space for one topic identity (identityRecord).
func (l layout) identityKey() string {
	return l.join("_auditstream/identity-" + l.connector + ".json")
}

// claimDir is where a partition's claims live (see Writer.claim).
func (l layout) claimDir(partition int32) string {
	return l.join(fmt.Sprintf("_auditstream/claims/%s/%d/", l.connector, partition))
}

// claimKey is the key of the claim of the delivery whose first record is
// at first. The name counts down (math.MaxInt64 - first, 19 digits), so
// that a LIST that starts after a position finds the latest claim at or
// before it first.
func (l layout) claimKey(partition int32, first int64) string {
	return l.claimDir(partition) + fmt.Sprintf("%019d.json", math.MaxInt64-first)
}

// parseClaimKey returns the first offset a claim key names.
func (l layout) parseClaimKey(partition int32, key string) (first int64, ok bool) {
	name, ok := strings.CutPrefix(key, l.claimDir(partition))
	if !ok {
		return 0, false
	}
	name, ok = strings.CutSuffix(name, ".json")
	if !ok || len(name) != 19 || !digits(name) {
		return 0, false
	}
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, false
	}
	return math.MaxInt64 - n, true
}

// probeKey is the key of Check's write probe.
func (l layout) probeKey(random string) string {
	return l.join("_auditstream/probe-" + random)
}

// parseObjectKey recognizes a data object of the layout's connector by its
// file name, wherever it lies under the prefix.
func (l layout) parseObjectKey(key string) (partition int32, first int64, ok bool) {
	rest, ok := strings.CutPrefix(path.Base(key), l.connector+"-")
	if !ok {
		return 0, 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".ndjson.gz")
	if !ok {
		return 0, 0, false
	}
	// The offset has a fixed width, so a connector whose id extends ours
	// ("s3" and "s3-2") never parses as ours: its name leaves a non-digit
	// or an extra dash in front of the offset.
	p, off, ok := strings.Cut(rest, "-")
	if !ok || len(off) != 20 || !digits(off) {
		return 0, 0, false
	}
	pn, ok := canonicalInt(p, math.MaxInt32)
	if !ok {
		return 0, 0, false
	}
	first, err := strconv.ParseInt(off, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return int32(pn), first, true
}

// parseManifestKey recognizes a manifest of the layout's connector.
func (l layout) parseManifestKey(key string) (partition int32, next int64, ok bool) {
	rest, ok := strings.CutPrefix(key, l.join("_manifests/"+l.connector+"/"))
	if !ok {
		return 0, 0, false
	}
	p, name, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	name, ok = strings.CutSuffix(name, ".json")
	if !ok || len(name) != 20 || !digits(name) {
		return 0, 0, false
	}
	pn, ok := canonicalInt(p, math.MaxInt32)
	if !ok {
		return 0, 0, false
	}
	next, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return int32(pn), next, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// projectDir is a project id as a path segment. The router validates
// project ids (letters, digits, '.', '_', '-'; never "." or ".."), so this
// mostly guards against an event that skipped validation: such an event
// goes under "_invalid" rather than escaping the prefix or splitting the
// path. The two directory names the sink keeps for itself are refused too.
func projectDir(p string) string {
	switch {
	case p == "", p == ".", p == "..", p == "_manifests", p == "_auditstream", strings.ContainsAny(p, "/\\"):
		return "_invalid"
	}
	return p
}
