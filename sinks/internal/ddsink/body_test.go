package ddsink

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// clientBody returns the body the client's SubmitLog sends for items:
// its encoder's (setBody's) encoding of them.
func clientBody(t testing.TB, items []datadogV2.HTTPLogItem) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := datadog.NewEncoder(&b).Encode(&items); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBodyIsTheClients encodes the same logs by hand (appendBody) and with
// the client's model and encoder, and compares them: decoded, so that a
// change in HTTPLogItem (a member renamed, added or dropped) fails here,
// and byte for byte, since logSize counts the client's bytes.
func TestBodyIsTheClients(t *testing.T) {
	odd := "<&> \"\\\x00\x1f\x7f\b\f\n\r\t \u2028\u2029 日本 \ufffd é"
	evs := append(benchEvents(20), richEvent(), event(3),
		&auditv1.Event{Id: odd, ProjectId: odd, Action: "a,b c", Tenants: []string{odd, "t,x"}, Type: odd},
		&auditv1.Event{Id: "no time, no tags", Type: ""},
		&auditv1.Event{Id: "ancient", Occurred: &timestamppb.Timestamp{Seconds: -62135596800}},
	)
	mappers := map[string]*mapper{
		"plain":        newMapper("auditstream", "audit-svc", "sink-0", []string{"env:test"}),
		"odd":          newMapper(odd+"\xe2\x80", "s\xff", odd, []string{odd + "\xff"}),
		"nothing":      newMapper("", "", "", nil),
		"source only":  newMapper("src", "", "", nil),
		"service only": newMapper("", "svc", "", nil),
		"host only":    newMapper("", "", "host", nil),
	}
	for name, m := range mappers {
		t.Run(name, func(t *testing.T) {
			logs := m.builder(0)
			for _, ev := range evs {
				if _, err := logs.add(ev); err != nil {
					t.Fatalf("event %q: %v", ev.GetId(), err)
				}
				logs.keep()
			}
			var entries []entry
			for _, l := range logs.logs() {
				entries = append(entries, entry{log: l})
			}
			// A log without tags (empty ddtags is left out by both).
			entries = append(entries, entry{log: ddlog{message: `{"id":"bare"}`}})
			var items []datadogV2.HTTPLogItem
			for _, e := range entries {
				items = append(items, m.item(e.log))
			}
			for _, n := range []int{0, 1, len(entries)} {
				got := m.appendBody(nil, entries[:n])
				want := clientBody(t, items[:n])
				var gotV, wantV any
				if err := json.Unmarshal(got, &gotV); err != nil {
					t.Fatalf("%d logs: hand-written body does not decode: %v\n%s", n, err, got)
				}
				if err := json.Unmarshal(want, &wantV); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotV, wantV) {
					t.Errorf("%d logs: the hand-written body decodes to\n%v\nwant the client's\n%v", n, gotV, wantV)
				} else if !bytes.Equal(got, want) {
					t.Errorf("%d logs: the hand-written body is\n%s\nwant the client's bytes\n%s", n, got, want)
				}
			}
		})
	}
}

// FuzzAppendQuoted compares appendQuoted with the client's encoder, and
// with quotedLen.
func FuzzAppendQuoted(f *testing.F) {
	f.Add("plain")
	f.Add("<&>\"\\\x00\x7f\b\f\u2028\u2029\ufffd\xff\xe2\x80")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := datadog.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendQuoted(nil, s)
		if !bytes.Equal(got, want) {
			t.Errorf("appendQuoted(%q): got %s, want the client's %s", s, got, want)
		}
		if n := quotedLen([]byte(s)); n != len(got) {
			t.Errorf("quotedLen(%q): got %d, want %d", s, n, len(got))
		}
	})
}
