package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints a line on stderr every two seconds while work goes on.
type progress struct {
	n    atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, quiet bool, verb string) *progress {
	p := &progress{done: make(chan struct{})}
	if quiet {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-t.C:
				n := p.n.Load()
				fmt.Fprintf(w, "%s %d events (%.0f/s)\n", verb, n, float64(n)/now.Sub(start).Seconds())
			}
		}
	}()
	return p
}

func (p *progress) add(n int64) { p.n.Add(n) }

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
