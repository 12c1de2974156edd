//go:build integration

package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/router/internal/route"
	"github.com/auditstream/auditstream/stack/proctest"
)

// cutDialer dials Kafka until cut: then it closes every connection it
// made and refuses new ones until healed, as an unreachable cluster
// would. It cuts only this router's connections, never the shared broker.
type cutDialer struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, errors.New("cutDialer: network cut")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) set(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
	if down {
		for _, c := range d.conns {
			_ = c.Close()
		}
		d.conns = nil
	}
}

// TestRouteSurvivesKafkaOutage reproduces what make chaos found: a router
// whose cluster goes away mid-run exited 1 ("end transaction: unable to
// dial"). Here the router's network to Kafka is cut for 40 s, longer than
// a transaction may take to end, while events flow. The router must still
// be running afterwards, and every connector topic must hold exactly the
// expected ids, each once.
func TestRouteSurvivesKafkaOutage(t *testing.T) {
	tp := newPipeline(t, overlapping)
	evs := generate(11, 30_000)
	p, err := config.Load(tp.path)
	if err != nil {
		t.Fatal(err)
	}
	var logs proctest.Log
	cut := &cutDialer{}
	r, err := route.New(route.Options{Pipeline: p, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Registerer: prometheus.NewRegistry(), KafkaOpts: []kgo.Opt{kgo.Dialer(cut.dial)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	defer func() {
		if t.Failed() {
			t.Logf("router log (last lines):\n%s", lastLines(logs.String(), 60))
		}
	}()

	publish(t, tp.events, evs[:5_000])
	time.Sleep(3 * time.Second)
	// Events keep flowing, so that the cut lands in an open transaction.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 5_000; i < len(evs); i += 500 {
			publish(t, tp.events, evs[i:i+500])
			time.Sleep(100 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	cut.set(true)
	t.Log("network to Kafka cut")
	select {
	case err := <-ran:
		t.Fatalf("got the router's Run returned (%v) while Kafka was unreachable, want it waiting", err)
	case <-time.After(40 * time.Second):
	}
	ok, why := r.Ready()
	t.Logf("during the outage: ready %v (%s)", ok, why)
	cut.set(false)
	t.Log("network to Kafka healed")
	<-published
	want := expected(t, overlapping, evs)
	for _, c := range overlapping {
		checkTopic(t, tp.prefix+c.ID, want[c.ID])
	}
	select {
	case err := <-ran:
		t.Fatalf("got the router's Run returned (%v) after the outage, want it routing", err)
	default:
	}
	t.Logf("sessions replaced: %d", strings.Count(logs.String(), "replacing the Kafka session"))
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("got Run returned %v at shutdown, want nil", err)
	}
}
