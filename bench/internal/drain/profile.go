package drain

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler takes profiles of a router built with a pprof endpoint, which
// it serves at the address in AUDITSTREAM_BENCH_PPROF (see run.sh).
type profiler struct {
	addr string
	dir  string
	done chan error
}

func newProfiler(dir string) (*profiler, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pick a pprof port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &profiler{addr: addr, dir: dir, done: make(chan error, 1)}, nil
}

// env is the router's environment setting that turns the endpoint on.
func (p *profiler) env() string { return "AUDITSTREAM_BENCH_PPROF=" + p.addr }

// cpu starts a CPU profile of length d as soon as the endpoint answers,
// into router.cpu.pprof. wait returns its outcome.
func (p *profiler) cpu(ctx context.Context, d time.Duration) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, int(d.Seconds()))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := p.fetch(ctx, url, "router.cpu.pprof")
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			p.done <- err
			return
		}
		time.Sleep(10 * time.Millisecond) // the router is still starting
	}
}

// wait waits for the CPU profile. The router must stay up until then: the
// profile is lost if it exits first.
func (p *profiler) wait() error { return <-p.done }

// allocs saves the router's allocations since it started into
// router.allocs.pprof.
func (p *profiler) allocs(ctx context.Context) error {
	return p.fetch(ctx, "http://"+p.addr+"/debug/pprof/allocs", "router.allocs.pprof")
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
