package main

import "testing"

func TestProcField(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: X\nmodel name\t: AMD EPYC 7B13\nflags\t\t: a b\nprocessor\t: 1\nmodel name\t: other\n"
	meminfo := "MemTotal:        8141240 kB\nMemFree:          123 kB\n"
	tests := []struct{ text, name, want string }{
		{cpuinfo, "model name", "AMD EPYC 7B13"},
		{cpuinfo, "vendor_id", "X"},
		{meminfo, "MemTotal", "8141240 kB"},
		{meminfo, "Missing", ""},
	}
	for _, tt := range tests {
		if got := procField(tt.text, tt.name); got != tt.want {
			t.Errorf("procField(%q): got %q, want %q", tt.name, got, tt.want)
		}
	}
}
