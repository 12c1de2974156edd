package status

import (
	"strings"
	"testing"
)

func TestBases(t *testing.T) {
	o := Options{Scheme: "https"}
	tests := []struct {
		name    string
		members []Member
		listen  string
		want    []string
		why     string
	}{
		{"every advertised replica, once", []Member{{Admin: "http://127.0.0.1:9465"}, {Admin: "http://127.0.0.1:40001"}, {Admin: "http://127.0.0.1:9465"}}, "0.0.0.0:9999",
			[]string{"http://127.0.0.1:9465", "http://127.0.0.1:40001"}, ""},
		{"no member advertises: the file's listen", []Member{{ClientID: "old-build"}}, "0.0.0.0:9464", []string{"https://127.0.0.1:9464"}, ""},
		{"nothing to ask", nil, "", nil, "advertises its admin address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := bases(o, Group{Name: "g", Members: tt.members}, tt.listen)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || !strings.Contains(why, tt.why) {
				t.Errorf("got %v %q, want %v %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	yes, no := true, false
	got := summary([]Service{
		{Admin: "http://a", Ready: &yes},
		{Admin: "http://b", Ready: &no, ReadyDetail: "not ready: destination failing"},
		{Admin: "http://c", Unreachable: "connection refused"},
	})
	if got.Ready == nil || *got.Ready {
		t.Errorf("one replica not ready: got ready=%v, want false", got.Ready)
	}
	if !strings.Contains(got.ReadyDetail, "http://b: not ready: destination failing") || !strings.Contains(got.Unreachable, "http://c: connection refused") {
		t.Errorf("got %+v, want b's reason and c unreachable", got)
	}
	if got := summary([]Service{{Admin: "http://a", Ready: &yes}, {Admin: "http://c", Unreachable: "refused"}}); got.Ready == nil || !*got.Ready {
		t.Errorf("every replica that answered is ready: got %v, want true", got.Ready)
	}
}
