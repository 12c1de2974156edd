package report

import "testing"

func TestCompare(t *testing.T) {
	tests := []struct {
		name      string
		ours, raw float64
		goal      *Goal
		wantRatio float64
		wantPass  bool
	}{
		{"ratio met", 90, 100, RatioAtLeast(0.9), 0.9, true},
		{"ratio ceiling met", 150, 100, RatioAtMost(1.5), 1.5, true},
		{"ratio ceiling missed", 151, 100, RatioAtMost(1.5), 1.51, false},
		{"ratio missed", 89, 100, RatioAtLeast(0.9), 0.89, false},
		{"ceiling met", 150, 300, AtMost(150), 0.5, true},
		{"ceiling missed", 151, 100, AtMost(150), 1.51, false},
		{"floor met", 95, 0, AtLeast(95), 0, true},
		{"floor missed", 94.9, 0, AtLeast(95), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Compare("f", "u", tt.ours, tt.raw, "raw", tt.goal)
			if f.Ratio != tt.wantRatio {
				t.Errorf("ratio: got %v, want %v", f.Ratio, tt.wantRatio)
			}
			if f.Pass == nil || *f.Pass != tt.wantPass {
				t.Errorf("pass: got %v, want %v", f.Pass, tt.wantPass)
			}
		})
	}
	if f := Compare("f", "u", 1, 0, "", nil); f.Pass != nil || f.Ratio != 0 {
		t.Errorf("no baseline, no goal: got ratio %v, pass %v; want 0, nil", f.Ratio, f.Pass)
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{1234567.4, "events/s", "1,234,567/s"},
		{999, "events/s", "999/s"},
		{4.346, "CPU-s", "4.35 CPU-s"},
	}
	for _, tt := range tests {
		if got := value(tt.v, tt.unit); got != tt.want {
			t.Errorf("value(%v, %q): got %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}
