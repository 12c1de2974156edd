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

var adminAddr = regexp.MustCompile(`msg="admin endpoints" addr=(\S+)`)

// routerMetrics returns a scrape function for a router run: it finds the
// router's metrics address in its log and reads its Prometheus series once
// the router has counted want records in (the counters move when a
// transaction commits, a moment after the offsets become visible).
func routerMetrics(ctx context.Context, want int64) func(logPath string) (map[string]float64, error) {
	return func(logPath string) (map[string]float64, error) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return nil, fmt.Errorf("read router log: %w", err)
		}
		m := adminAddr.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("no metrics address in the router's log %s", logPath)
		}
		url := "http://" + string(m[1]) + "/metrics"
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := scrape(ctx, url)
			if err != nil || got["auditstream_router_records_in_total"] >= float64(want) || time.Now().After(deadline) {
				return got, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// scrape reads a Prometheus text exposition into series -> value. Series
// keep their labels ("name{l=\"v\"}"); sum adds up a name's series.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
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

// sum adds up every series of a metric name.
func sum(series map[string]float64, name string) float64 {
	var t float64
	for k, v := range series {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}
