package ddsink

import (
	"errors"
	"fmt"
	"strings"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/eventjson"
)

// timestampAttr is the attribute Datadog takes a log's date from. It is the
// first of the default date attributes (timestamp, date, _timestamp,
// Timestamp, eventTime, published_date) that Datadog's date remapper reads,
// and it accepts milliseconds since the epoch.
const timestampAttr = "timestamp"

// mapper turns events into logs with the connector's fixed attributes.
type mapper struct {
	// source, service and hostname are nil when empty, so that they are
	// left out. Every log shares them: the client only reads them.
	source   *string
	service  *string
	hostname *string
	tags     []string // the connector's own, appended to every log's
	// fixed and fixedMembers are the bytes and the count of the members
	// of a log's JSON that are the same in every log: source, service and
	// hostname.
	fixed        int
	fixedMembers int
	// sourceMember, hostnameMember and serviceMember are those members
	// as the body writes them ("" when left out): "ddsource":"...",
	// "hostname":"...", with its comma after, and ,"service":"...".
	sourceMember, hostnameMember, serviceMember string
	// handWritten is whether eventjson writes the messages (the Event is
	// the one it knows); else protojson does.
	handWritten bool
}

// newMapper returns the mapper of a connector's attributes.
func newMapper(source, service, hostname string, tags []string) *mapper {
	m := &mapper{tags: tags, handWritten: eventjson.KnownLayout()}
	m.source = m.fixedMember("ddsource", source)
	m.service = m.fixedMember("service", service)
	m.hostname = m.fixedMember("hostname", hostname)
	m.sourceMember = member("ddsource", m.source)
	if m.hostname != nil {
		m.hostnameMember = member("hostname", m.hostname) + ","
	}
	if m.service != nil {
		m.serviceMember = "," + member("service", m.service)
	}
	return m
}

// fixedMember counts the member key: value of every log's JSON and returns
// the value for the logs, or nil when it is empty and left out.
func (m *mapper) fixedMember(key, value string) *string {
	if value == "" {
		return nil
	}
	m.fixed += memberLen(key, quotedLen([]byte(value)))
	m.fixedMembers++
	return &value
}

// builder returns an empty logBuilder, with room for about bytes of
// events in protobuf.
func (m *mapper) builder(bytes int) *logBuilder {
	lb := &logBuilder{m: m, w: eventjson.NewWriter()}
	// A log's message and tags take a little more than its event in
	// protobuf; the builder grows if this falls short.
	lb.text.Grow(bytes + bytes/2)
	return lb
}

// logBuilder maps a batch's events into logs. Each log is written into
// scratch first; the logs kept are copied back to back into text, whose
// one string their messages and ddtags share, so that a log costs no
// allocation of its own.
type logBuilder struct {
	m       *mapper
	w       *eventjson.Writer
	scratch []byte     // the log added last: its message, then its ddtags
	added   pendingLog // the log added last, within scratch
	text    strings.Builder
	kept    []pendingLog // the logs kept, within text
}

// pendingLog is a log in a logBuilder: its message ends at msgEnd, then
// its ddtags until tagsEnd, where the next log begins.
type pendingLog struct {
	msgEnd, tagsEnd int
	timed           bool
	millis          int64 // occurred, when timed
}

// add maps ev into a log and returns the bytes of its JSON as the client
// encodes it. The log is among the items only once kept.
func (lb *logBuilder) add(ev *auditv1.Event) (int, error) {
	if ev == nil {
		return 0, errors.New("no event")
	}
	ok := false
	if lb.m.handWritten {
		lb.scratch, ok = lb.w.Append(lb.scratch[:0], ev)
	}
	var msgQuoted int // the message's bytes once quoted in the log
	if ok {
		msgQuoted = len(lb.scratch) + lb.w.QuotedExtra()
	} else {
		b, err := (protojson.MarshalOptions{}).MarshalAppend(lb.scratch[:0], ev)
		if err != nil {
			return 0, fmt.Errorf("encode event %s as json: %w", ev.GetId(), err)
		}
		lb.scratch = b
		msgQuoted = quotedLen(lb.scratch)
	}
	p := pendingLog{msgEnd: len(lb.scratch)}
	lb.scratch = lb.m.appendTags(lb.scratch, ev)
	p.tagsEnd = len(lb.scratch)
	if occ := ev.GetOccurred(); occ != nil {
		p.timed, p.millis = true, occ.AsTime().UnixMilli()
	}
	lb.added = p
	return lb.m.logSize(msgQuoted, lb.scratch[p.msgEnd:p.tagsEnd], p), nil
}

// keep keeps the log added last, after the others kept.
func (lb *logBuilder) keep() {
	p, start := lb.added, lb.text.Len()
	p.msgEnd += start
	p.tagsEnd += start
	lb.text.Write(lb.scratch)
	lb.kept = append(lb.kept, p)
}

// logs returns the logs kept, in order.
func (lb *logBuilder) logs() []ddlog {
	s := lb.text.String()
	out := make([]ddlog, len(lb.kept))
	start := 0
	for i, p := range lb.kept {
		out[i] = ddlog{message: s[start:p.msgEnd], tags: s[p.msgEnd:p.tagsEnd], timed: p.timed, millis: p.millis}
		start = p.tagsEnd
	}
	return out
}

// items returns the logs kept, in order, as the client's model.
func (lb *logBuilder) items() []datadogV2.HTTPLogItem {
	logs := lb.logs()
	out := make([]datadogV2.HTTPLogItem, len(logs))
	for i, l := range logs {
		out[i] = lb.m.item(l)
	}
	return out
}

// appendTags appends the ddtags of ev to b: project, each tenant, action
// and type, then the connector's tags, comma-joined.
func (m *mapper) appendTags(b []byte, ev *auditv1.Event) []byte {
	start := len(b)
	b = appendTag(b, start, "project", ev.GetProjectId())
	for _, t := range ev.GetTenants() {
		b = appendTag(b, start, "tenant", t)
	}
	b = appendTag(b, start, "action", ev.GetAction())
	typ := ev.GetType()
	if typ == "" {
		typ = "info"
	}
	b = appendTag(b, start, "type", typ)
	for _, t := range m.tags {
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	return b
}

// appendTag appends key:value to the tags that began at start in b, unless
// value is empty.
func appendTag(b []byte, start int, key, value string) []byte {
	if value == "" {
		return b
	}
	if len(b) > start {
		b = append(b, ',')
	}
	b = append(b, key...)
	b = append(b, ':')
	mark := len(b)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c >= 0x80 {
			// Beyond ASCII, tagValue's rune by rune mapping decides
			// (it also replaces invalid UTF-8).
			return append(b[:mark], tagValue(value)...)
		}
		if isTagSeparator(rune(c)) {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// tagValue makes v safe inside ddtags. A comma would split the tag in two;
// Datadog turns whitespace and other characters it does not keep into
// underscores anyway, so the same is done here for the separators.
func tagValue(v string) string {
	return strings.Map(func(r rune) rune {
		if isTagSeparator(r) {
			return '_'
		}
		return r
	}, v)
}

// isTagSeparator reports whether r would split ddtags.
func isTagSeparator(r rune) bool {
	switch r {
	case ',', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
