package drain

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// adminAddr finds the address of /metrics, /healthz and /readyz in the log
// of a router or a sink (a sink adds its connector before the address).
var adminAddr = regexp.MustCompile(`msg="admin endpoints" (?:\S+ )*?addr=(\S+)`)

// AdminURL returns the URL of path on the admin endpoint that a router or a
// sink logged into logPath, waiting up to 30 s for it to appear.
func AdminURL(ctx context.Context, logPath, path string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", logPath, err)
		}
		if m := adminAddr.FindSubmatch(b); m != nil {
			return "http://" + string(m[1]) + path, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("no admin endpoint address in %s", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Metrics returns a Child's Scrape that reads the Prometheus series of a
// router or a sink once done accepts them (or after 5 s): counters may move
// a moment after the offsets become visible. A nil done accepts the first
// read.
func Metrics(ctx context.Context, done func(map[string]float64) bool) func(logPath string) (map[string]float64, error) {
	return func(logPath string) (map[string]float64, error) {
		url, err := AdminURL(ctx, logPath, "/metrics")
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := Scrape(ctx, url)
			if err != nil || done == nil || done(got) || time.Now().After(deadline) {
				return got, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Scrape reads a Prometheus text exposition into series -> value. Series
// keep their labels ("name{l=\"v\"}"); Sum adds up a name's series.
func Scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// Sum adds up every series of a metric name.
func Sum(series map[string]float64, name string) float64 {
	var t float64
	for k, v := range series {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}
