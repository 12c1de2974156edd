package buildinfo

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Setenv("AUDITSTREAM_VERSION", "")
	if v := Version(); v == "" || v == "(unknown)" {
		t.Fatalf("Version() = %q, want the test binary's build info", v)
	}
	// A test binary is a devel build: the image's stamp wins.
	t.Setenv("AUDITSTREAM_VERSION", "v9.9.9")
	if v := Version(); !strings.Contains(v, "v9.9.9") {
		t.Fatalf("Version() = %q with AUDITSTREAM_VERSION=v9.9.9", v)
	}
}

func TestAsked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"version"}, true},
		{[]string{"run", "--version"}, false},
		{nil, false},
	} {
		var out bytes.Buffer
		if got := Asked("router", tc.args, &out); got != tc.want || got != strings.HasPrefix(out.String(), "router ") {
			t.Errorf("Asked(%q) = %v, wrote %q; want %v", tc.args, got, out.String(), tc.want)
		}
	}
}
