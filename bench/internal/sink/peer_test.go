package sink

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/procstat"
)

func TestParsePeer(t *testing.T) {
	good := `{"events":1000,"seconds":2.5,"cpu_seconds":4,"peak_rss_bytes":1048576,"objects":6,"version":"Kafka Connect 4.1.1 + Aiven S3 2.15.0","startup_seconds":1.5}`
	tests := []struct {
		name    string
		stdout  string
		wantErr string // empty: no error
	}{
		{"one line", good + "\n", ""},
		{"progress before the line", "starting connect\n" + good + "\n\n", ""},
		{"nothing", "\n", "printed nothing"},
		{"not json", "done\n", "its line"},
		{"wrong count", strings.Replace(good, `"events":1000`, `"events":999`, 1), "drained 999 events, want 1000"},
		{"no cpu", strings.Replace(good, `"cpu_seconds":4`, `"cpu_seconds":0`, 1), "want seconds, cpu_seconds"},
		{"no objects", strings.Replace(good, `"objects":6`, `"objects":0`, 1), "no objects"},
		{"unknown field", strings.Replace(good, `"objects"`, `"objekts"`, 1), "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePeer([]byte(tt.stdout), 1000)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if p.Seconds != 2.5 || p.CPUSeconds != 4 || p.PeakRSS != 1<<20 || p.Objects != 6 || !strings.HasPrefix(p.Version, "Kafka Connect") {
					t.Errorf("got %+v, want the line's figures", p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLCM(t *testing.T) {
	tests := []struct{ a, b, want int }{{1000, 10000, 10000}, {1000, 1000, 1000}, {4000, 6000, 12000}, {7, 3, 21}}
	for _, tt := range tests {
		if got := lcm(tt.a, tt.b); got != tt.want {
			t.Errorf("lcm(%d, %d): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPeerScenario runs scripts in the runner's place: a missing one and a
// failing one make the scenario "not run" without figures; a good one gives
// ours/peer ratios.
func TestPeerScenario(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cl, err := cluster.New([]string{"127.0.0.1:1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sink := outcome{kind: S3Sink, Measurement: drain.Measurement{Elapsed: 2 * time.Second, Stat: procstat.Stat{CPU: 3 * time.Second, PeakRSS: 100 << 20}}}
	done := []outcome{sink, {kind: rawKind, Measurement: drain.Measurement{Elapsed: time.Second}}}
	tests := []struct {
		name       string
		runner     string
		wantNotRun string
		wantRatios []float64 // rate, CPU, RSS
	}{
		{"absent", filepath.Join(dir, "absent.sh"), "is absent", nil},
		{"fails", script("fail.sh", "echo broken >&2; exit 3"), "failed: exit status 3", nil},
		{"bad line", script("bad.sh", "echo '{\"events\":5}'"), "drained 5 events", nil},
		{"good", script("good.sh", `echo '{"events":1000,"seconds":4,"cpu_seconds":12,"peak_rss_bytes":1048576000,"objects":6,"version":"v"}'`),
			"", []float64{2, 0.25, 0.1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &scenario{
				o:   Options{Cluster: cl, Peer: tt.runner, LogDir: dir, Log: slog.New(slog.DiscardHandler)},
				enc: "JSON", n: 1000, bucket: &bucket{name: "b"}, kinds: map[Kind]*kindConfig{S3Sink: {}},
			}
			res := sc.peer(context.Background(), done)
			if !strings.Contains(res.NotRun, tt.wantNotRun) || (tt.wantNotRun == "") != (res.NotRun == "") {
				t.Fatalf("not run: got %q, want %q", res.NotRun, tt.wantNotRun)
			}
			var got []float64
			for _, f := range res.Figures {
				got = append(got, math.Round(f.Ratio*100)/100)
			}
			if !slices.Equal(got, tt.wantRatios) {
				t.Errorf("ratios: got %v, want %v", got, tt.wantRatios)
			}
		})
	}
}
