package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditstream/auditstream/bench/internal/drain"
)

// intake is the Datadog Logs intake test server (ddintake), run as a child
// process of its own so that its CPU time is not the sink's.
type intake struct {
	proc    *drain.Proc
	url     string // http://host:port
	keyFile string // the accepted API key, for the sink's config
}

// startIntake starts bin with a fresh API key, logging into dir, and waits
// until it listens.
func startIntake(bin, dir string) (*intake, error) {
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "ddintake.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("intake api key: %w", err)
	}
	addrFile := filepath.Join(dir, "ddintake.addr")
	_ = os.Remove(addrFile)
	p, err := drain.Start(drain.Child{
		Argv: []string{bin, "--api-key-file", keyFile, "--addr-file", addrFile},
		Log:  filepath.Join(dir, "ddintake.log"),
	})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return &intake{proc: p, url: "http://" + strings.TrimSpace(string(b)), keyFile: keyFile}, nil
		}
		select {
		case err := <-p.Exited():
			return nil, p.Failed("exited before listening", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("%s wrote no address within 30 s", bin)
		}
	}
}

// connector is the pipeline file's block for a Datadog connector id
// delivering to the intake, with the connector's default batch limits.
func (in *intake) connector(id string) map[string]any {
	return map[string]any{
		"id": id, "type": "datadog", "listen": "127.0.0.1:0",
		"datadog": map[string]any{"url": in.url, "api_key": map[string]any{"file": in.keyFile}, "service": "auditstream-bench"},
	}
}

// intakeStats is the part of the intake's GET /_intake/stats that the
// benchmark reads.
type intakeStats struct {
	Requests          int         `json:"requests"`
	ByStatus          map[int]int `json:"by_status"`
	EntriesAccepted   int         `json:"entries_accepted"`
	EntriesPerRequest map[int]int `json:"entries_per_request"`
	BytesReceived     int64       `json:"bytes_received"`
	BytesDecoded      int64       `json:"bytes_decoded"`
}

// accepted is the number of requests answered 202.
func (s intakeStats) accepted() int { return s.ByStatus[http.StatusAccepted] }

// stats reads the intake's counts since the last reset.
func (in *intake) stats(ctx context.Context) (intakeStats, error) {
	var s intakeStats
	resp, err := in.do(ctx, http.MethodGet, "/_intake/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("intake stats: %w", err)
	}
	return s, nil
}

// intakeLog is the part of one log of GET /_intake/logs that the
// benchmark reads.
type intakeLog struct {
	ID       uint64    `json:"id"`
	Received time.Time `json:"received"`
	Message  string    `json:"message"`
}

// logsPage is the body of GET /_intake/logs.
type logsPage struct {
	Logs []intakeLog `json:"logs"`
	Next uint64      `json:"next"`
	More bool        `json:"more"`
}

// logs reads up to 10,000 of the logs accepted after the one numbered since.
func (in *intake) logs(ctx context.Context, since uint64) (logsPage, error) {
	var p logsPage
	resp, err := in.do(ctx, http.MethodGet, fmt.Sprintf("/_intake/logs?since=%d&limit=10000", since))
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return p, fmt.Errorf("intake logs: %w", err)
	}
	return p, nil
}

// reset drops the intake's logs, stats and faults.
func (in *intake) reset(ctx context.Context) error {
	resp, err := in.do(ctx, http.MethodPost, "/_intake/reset")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// discard drops the logs the intake keeps, every second until ctx ends. The
// intake keeps every accepted log for inspection; a 1M-event drain would
// otherwise grow it by gigabytes. The stats stay.
func (in *intake) discard(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if resp, err := in.do(ctx, http.MethodDelete, "/_intake/logs"); err == nil {
			resp.Body.Close()
		}
	}
}

func (in *intake) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, in.url+path, nil)
	if err != nil {
		return nil, fmt.Errorf("intake %s %s: %w", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("intake %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, fmt.Errorf("intake %s %s: %s", method, path, resp.Status)
	}
	return resp, nil
}
