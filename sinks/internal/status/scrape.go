package status

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// adminURL is the base URL of a service's admin endpoints at listen, or ""
// with the reason it cannot be reached from here.
func adminURL(scheme, listen string) (string, string) {
	if listen == "" {
		return "", "no listen address in the pipeline file"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Sprintf("listen %q: %v", listen, err)
	}
	if port == "0" {
		return "", fmt.Sprintf("listen %s picks a free port at start; set a fixed port to let auditctl reach it", listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port), ""
}

// sample is one metric sample: its name, its labels as written, its value.
type sample struct {
	name, labels string
	value        float64
}

// scrape reads a Prometheus text exposition.
func scrape(ctx context.Context, hc *http.Client, token, base string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	authorize(req, token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var out []sample
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name, labels = name[:j], name[j:]
		}
		out = append(out, sample{name: name, labels: labels, value: v})
	}
	return out, sc.Err()
}

// sum adds the samples of name whose labels hold every one of want.
func sum(ss []sample, name string, want ...string) (float64, bool) {
	var v float64
	found := false
	for _, s := range ss {
		if s.name != name {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s.labels, w)
		}
		if ok {
			v += s.value
			found = true
		}
	}
	return v, found
}

// ready asks /readyz: ready, and the body when not.
func ready(ctx context.Context, hc *http.Client, token, base string) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return false, "", err
	}
	authorize(req, token)
	resp, err := hc.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode == http.StatusOK, strings.TrimSpace(string(body)), nil
}

// authorize sends the admin token, when there is one.
func authorize(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}
