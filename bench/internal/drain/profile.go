package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Profiled returns c set up to be profiled, for a child built with a pprof
// endpoint that it serves at the address in AUDITSTREAM_BENCH_PPROF (run.sh
// adds one with -overlay). A CPU profile of length d starts as soon as the
// endpoint answers; once the child has drained, and while it still runs, its
// allocations since start are saved too. The files are NAME.cpu.pprof and
// NAME.allocs.pprof in dir. A profile that fails is logged, not an error:
// the drain itself is unaffected.
func Profiled(ctx context.Context, c Child, dir, name string, d time.Duration, log *slog.Logger) (Child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return c, fmt.Errorf("pick a pprof port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &profiler{addr: addr, dir: dir, name: name, done: make(chan error, 1)}
	c.Env = append(c.Env[:len(c.Env):len(c.Env)], "AUDITSTREAM_BENCH_PPROF="+addr)
	go p.cpu(ctx, d)
	scrape := c.Scrape
	c.Scrape = func(logPath string) (map[string]float64, error) {
		// While the child still runs: profiles die with it.
		if err := errors.Join(p.allocs(ctx), <-p.done); err != nil {
			log.Warn("profile", "name", name, "err", err)
		}
		if scrape == nil {
			return nil, nil
		}
		return scrape(logPath)
	}
	return c, nil
}

// profiler takes the profiles of one child.
type profiler struct {
	addr string
	dir  string
	name string
	done chan error
}

// cpu takes a CPU profile of length d as soon as the endpoint answers and
// sends its outcome to done.
func (p *profiler) cpu(ctx context.Context, d time.Duration) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, int(d.Seconds()))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := p.fetch(ctx, url, p.name+".cpu.pprof")
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			p.done <- err
			return
		}
		time.Sleep(10 * time.Millisecond) // the child is still starting
	}
}

// allocs saves the child's allocations since it started.
func (p *profiler) allocs(ctx context.Context) error {
	return p.fetch(ctx, "http://"+p.addr+"/debug/pprof/allocs", p.name+".allocs.pprof")
}

func (p *profiler) fetch(ctx context.Context, url, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(filepath.Join(p.dir, name))
	if err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("save profile %s: %w", name, err)
	}
	return nil
}
