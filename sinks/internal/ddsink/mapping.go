package ddsink

import (
	"errors"
	"fmt"
	"strings"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// timestampAttr is the attribute Datadog takes a log's date from. It is the
// first of the default date attributes (timestamp, date, _timestamp,
// Timestamp, eventTime, published_date) that Datadog's date remapper reads,
// and it accepts milliseconds since the epoch.
const timestampAttr = "timestamp"

// mapper turns events into logs with the connector's fixed attributes.
type mapper struct {
	source   string
	service  string
	hostname string
	tags     []string // the connector's own, appended to every log's
	json     protojson.MarshalOptions
}

// log returns the log of ev.
func (m *mapper) log(ev *auditv1.Event) (datadogV2.HTTPLogItem, error) {
	if ev == nil {
		return datadogV2.HTTPLogItem{}, errors.New("no event")
	}
	msg, err := m.json.Marshal(ev)
	if err != nil {
		return datadogV2.HTTPLogItem{}, fmt.Errorf("encode event %s as json: %w", ev.GetId(), err)
	}
	item := datadogV2.HTTPLogItem{
		Message: string(msg),
		Ddtags:  optional(m.tagsOf(ev)),
		// The attributes below are nil when empty, so that they are left out.
		Ddsource: optional(m.source),
		Service:  optional(m.service),
		Hostname: optional(m.hostname),
	}
	if ev.GetOccurred() != nil {
		item.AdditionalProperties = map[string]any{
			timestampAttr: ev.GetOccurred().AsTime().UnixMilli(),
		}
	}
	return item, nil
}

// tagsOf returns the ddtags of ev: project, each tenant, action and type,
// then the connector's tags, comma-joined.
func (m *mapper) tagsOf(ev *auditv1.Event) string {
	tags := make([]string, 0, 3+len(ev.GetTenants())+len(m.tags))
	add := func(key, value string) {
		if value != "" {
			tags = append(tags, key+":"+tagValue(value))
		}
	}
	add("project", ev.GetProjectId())
	for _, t := range ev.GetTenants() {
		add("tenant", t)
	}
	add("action", ev.GetAction())
	typ := ev.GetType()
	if typ == "" {
		typ = "info"
	}
	add("type", typ)
	tags = append(tags, m.tags...)
	return strings.Join(tags, ",")
}

// tagValue makes v safe inside ddtags. A comma would split the tag in two;
// Datadog turns whitespace and other characters it does not keep into
// underscores anyway, so the same is done here for the separators.
func tagValue(v string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '\t', '\n', '\r':
			return '_'
		}
		return r
	}, v)
}

// optional returns a pointer to s, or nil when s is empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
