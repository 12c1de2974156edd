// Package status gathers what an operator asks first: for each connector,
// how far behind it is, who consumes it, when it last wrote, whether its
// destination is ready and what it dead-lettered; and the same for the
// router.
//
// Everything comes from Kafka, except what only a running service knows:
// readiness (its /readyz) and the time of its last write (its /metrics),
// read from the admin address the pipeline file gives it (listen). A sink
// scaled to several replicas on several hosts is reached at that one
// address only.
package status

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/sinks/internal/dlq"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
)

// Member is one member of a consumer group.
type Member struct {
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
	InstanceID string  `json:"instance_id,omitempty"`
	Partitions []int32 `json:"partitions"`
}

// Group is a consumer group's state on its topic.
type Group struct {
	Name       string              `json:"name"`
	Topic      string              `json:"topic"`
	State      string              `json:"state"`
	Members    []Member            `json:"members"`
	Partitions []offsets.Partition `json:"partitions"`
	Lag        int64               `json:"lag"`
	LagApprox  bool                `json:"lag_approx,omitempty"`
}

// Service is what a running service's admin endpoints said.
type Service struct {
	// Admin is the base URL asked, or "" (Unreachable says why).
	Admin       string `json:"admin,omitempty"`
	Unreachable string `json:"unreachable,omitempty"`
	Ready       *bool  `json:"ready,omitempty"`
	ReadyDetail string `json:"ready_detail,omitempty"`
}

// Connector is one connector's status.
type Connector struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Filter string `json:"filter"`
	Group
	Service
	// LastWrite is when the sink last durably wrote a batch, from its
	// /metrics (auditstream_sink_last_write_timestamp_seconds); nil when
	// unknown (LastWriteFrom says why).
	LastWrite     *time.Time       `json:"last_write,omitempty"`
	LastWriteFrom string           `json:"last_write_from"`
	DLQ           map[string]int64 `json:"dlq"`
}

// Router is the router's status.
type Router struct {
	Group
	Service
	// TxPerSecond is the rate of committed transactions over the sampling
	// interval, from /metrics (auditstream_router_transactions_total).
	TxPerSecond *float64         `json:"tx_per_second,omitempty"`
	TxAborted   *float64         `json:"tx_aborted_total,omitempty"`
	DLQ         map[string]int64 `json:"dlq"`
}

// Report is the whole status.
type Report struct {
	At         time.Time   `json:"at"`
	Router     *Router     `json:"router,omitempty"`
	Connectors []Connector `json:"connectors"`
	// DLQScanned is how many records of the dead-letter topic the counts
	// come from; DLQBounded says only the newest were read.
	DLQScanned int64 `json:"dlq_scanned"`
	DLQBounded bool  `json:"dlq_bounded,omitempty"`
	// Errors are the parts that could not be read, by what.
	Errors map[string]string `json:"errors,omitempty"`
}

// Options configure Gather.
type Options struct {
	Pipeline *config.Pipeline
	Admin    *kadm.Client
	// Opts reach the cluster (for reading record ranges).
	Opts []kgo.Opt
	HTTP *http.Client
	// Connector, when set, limits the report to one connector (and leaves
	// the router out).
	Connector string
	// DLQLast bounds the dead-letter scan to the newest DLQLast records of
	// each partition (default 100,000).
	DLQLast int64
	// RateWindow is how long the router's transaction counter is sampled
	// for a rate (default 1 s).
	RateWindow time.Duration
	Now        func() time.Time
}

// Gather reads the status. It fails only when Kafka cannot be reached at
// all; a part it cannot read is named in Report.Errors.
func Gather(ctx context.Context, o Options) (*Report, error) {
	if o.DLQLast == 0 {
		o.DLQLast = 100_000
	}
	if o.RateWindow == 0 {
		o.RateWindow = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := o.Pipeline
	// One metadata request first: an unreachable cluster is one error,
	// not one per part.
	if _, err := o.Admin.BrokerMetadata(ctx); err != nil {
		return nil, fmt.Errorf("reach kafka %v: %w", p.Kafka.Brokers, err)
	}
	r := &Report{At: o.Now().UTC(), Errors: map[string]string{}}
	var mu sync.Mutex
	fail := func(what string, err error) {
		mu.Lock()
		r.Errors[what] = err.Error()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	var counts dlq.Counts
	wg.Go(func() {
		s, err := dlq.Read(ctx, o.Admin, p.Topics.DLQ.Name, dlq.Filter{}, dlq.ScanOptions{Opts: o.Opts, Last: o.DLQLast})
		if err != nil {
			fail("dlq", err)
			return
		}
		counts = dlq.Count(s.Letters)
		r.DLQScanned, r.DLQBounded = s.Read, s.Bounded
	})
	var cs []*config.Connector
	for i := range p.Connectors {
		if o.Connector == "" || p.Connectors[i].ID == o.Connector {
			cs = append(cs, &p.Connectors[i])
		}
	}
	r.Connectors = make([]Connector, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			cr := Connector{ID: c.ID, Type: string(c.Type), Filter: filter.Describe(c.Filter)}
			g, err := group(ctx, o, p.ConnectorGroup(c.ID), p.ConnectorTopic(c.ID))
			if err != nil {
				fail("connector "+c.ID, err)
			}
			cr.Group = g
			cr.Service, cr.LastWrite, cr.LastWriteFrom = sinkService(ctx, o.HTTP, c.Listen)
			r.Connectors[i] = cr
		})
	}
	if o.Connector == "" {
		wg.Go(func() {
			rt := &Router{}
			g, err := group(ctx, o, p.Router.Group, p.Topics.Events.Name)
			if err != nil {
				fail("router", err)
			}
			rt.Group = g
			rt.Service, rt.TxPerSecond, rt.TxAborted = routerService(ctx, o.HTTP, p.Router.Listen, o.RateWindow)
			r.Router = rt
		})
	}
	wg.Wait()
	for i := range r.Connectors {
		r.Connectors[i].DLQ = orEmpty(counts["sink:"+r.Connectors[i].ID])
	}
	if r.Router != nil {
		r.Router.DLQ = orEmpty(counts["router"])
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r, nil
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// group reads a consumer group's members and lag on topic.
func group(ctx context.Context, o Options, name, topic string) (Group, error) {
	g := Group{Name: name, Topic: topic, Members: []Member{}}
	ds, err := o.Admin.DescribeGroups(ctx, name)
	if err != nil {
		return g, fmt.Errorf("describe group %s: %w", name, err)
	}
	if d, ok := ds[name]; ok {
		if d.Err != nil {
			return g, fmt.Errorf("describe group %s: %w", name, d.Err)
		}
		g.State = d.State
		for _, m := range d.Members {
			mm := Member{ClientID: m.ClientID, Host: m.ClientHost, Partitions: []int32{}}
			if m.InstanceID != nil {
				mm.InstanceID = *m.InstanceID
			}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					if t.Topic == topic {
						mm.Partitions = append(mm.Partitions, t.Partitions...)
					}
				}
			}
			sort.Slice(mm.Partitions, func(i, j int) bool { return mm.Partitions[i] < mm.Partitions[j] })
			g.Members = append(g.Members, mm)
		}
	}
	ps, err := offsets.Lag(ctx, o.Admin, o.Opts, name, topic, offsets.DefaultCountBound)
	if err != nil {
		return g, err
	}
	g.Partitions = ps
	g.Lag, g.LagApprox = offsets.Total(ps)
	return g, nil
}

// reachTimeout bounds each admin request: a service that is down must
// not stall the status.
const reachTimeout = 2 * time.Second

// sinkService asks a sink's admin endpoints.
func sinkService(ctx context.Context, hc *http.Client, listen string) (Service, *time.Time, string) {
	var s Service
	base, why := adminURL(listen)
	if base == "" {
		s.Unreachable = why
		return s, nil, "unknown: the sink's /metrics (auditstream_sink_last_write_timestamp_seconds) is not reachable: " + why
	}
	s.Admin = base
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	ok, detail, err := ready(ctx, hc, base)
	if err != nil {
		s.Unreachable = err.Error()
		return s, nil, "unknown: " + base + "/metrics not reachable"
	}
	s.Ready, s.ReadyDetail = &ok, detail
	ss, err := scrape(ctx, hc, base)
	if err != nil {
		return s, nil, "unknown: " + err.Error()
	}
	v, found := sum(ss, "auditstream_sink_last_write_timestamp_seconds")
	if !found || v == 0 {
		return s, nil, base + "/metrics: no write since the sink started"
	}
	t := time.Unix(0, int64(v*1e9)).UTC()
	return s, &t, base + "/metrics"
}

// routerService asks the router's admin endpoints, sampling its
// transaction counter twice, window apart.
func routerService(ctx context.Context, hc *http.Client, listen string, window time.Duration) (Service, *float64, *float64) {
	var s Service
	base, why := adminURL(listen)
	if base == "" {
		s.Unreachable = why
		return s, nil, nil
	}
	s.Admin = base
	rctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	ok, detail, err := ready(rctx, hc, base)
	if err != nil {
		s.Unreachable = err.Error()
		return s, nil, nil
	}
	s.Ready, s.ReadyDetail = &ok, detail
	first, err := scrape(rctx, hc, base)
	if err != nil {
		return s, nil, nil
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return s, nil, nil
	case <-time.After(window):
	}
	sctx, cancel2 := context.WithTimeout(ctx, reachTimeout)
	defer cancel2()
	second, err := scrape(sctx, hc, base)
	if err != nil {
		return s, nil, nil
	}
	c0, _ := sum(first, "auditstream_router_transactions_total", `result="commit"`)
	c1, _ := sum(second, "auditstream_router_transactions_total", `result="commit"`)
	rate := (c1 - c0) / time.Since(t0).Seconds()
	aborted, _ := sum(second, "auditstream_router_transactions_total", `result="abort"`)
	return s, &rate, &aborted
}
