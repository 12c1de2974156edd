package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogWatch(t *testing.T) {
	tests := []struct {
		name   string
		writes []string // appended to the log, one look after each
		want   []bool
	}{
		{"absent", []string{"worker initializing\n", "scanning\n"}, []bool{false, false}},
		{"in one write", []string{"a\n", "INFO Kafka Connect started (x)\n"}, []bool{false, true}},
		{"split across writes", []string{"INFO Kafka Con", "nect sta", "rted\n"}, []bool{false, false, true}},
		{"stays seen", []string{"Kafka Connect started\n", "Kafka Connect stopping\n"}, []bool{true, true}},
		{"no log yet", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "connect.log")
			w := &logWatch{path: path, want: []byte("Kafka Connect started")}
			if got := w.seen(); got {
				t.Fatalf("before any write: got seen, want not")
			}
			for i, s := range tt.writes {
				f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(s); err != nil {
					t.Fatal(err)
				}
				f.Close()
				if got := w.seen(); got != tt.want[i] {
					t.Errorf("after write %d (%q): got %v, want %v", i, s, got, tt.want[i])
				}
			}
		})
	}
}
