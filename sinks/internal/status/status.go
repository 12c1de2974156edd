// Package status gathers what an operator asks first: for each connector,
// how far behind it is, who consumes it, when it last wrote, whether its
// destination is ready and what it dead-lettered; and the same for the
// router.
//
// Everything comes from Kafka, except what only a running service knows:
// readiness (its /readyz) and the time of its last write (its /metrics).
// Each replica advertises its admin address in its Kafka client id
// (admin.ClientID), which describing its consumer group shows: every
// replica is asked, on one host or many. A service whose group has no
// such member is asked at the listen address of the pipeline file, when
// it gives one.
package status

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/config/filter"
	"github.com/auditstream/auditstream/service/admin"
	"github.com/auditstream/auditstream/sinks/internal/dlq"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
)

// Member is one member of a consumer group.
type Member struct {
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
	InstanceID string  `json:"instance_id,omitempty"`
	Partitions []int32 `json:"partitions"`
	// Admin is the base URL of the member's admin endpoints, as its client
	// id advertises it; "" when it advertises none.
	Admin string `json:"admin,omitempty"`
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

// Service is what a running service's admin endpoints said: one
// replica's, or, summed up over every replica, a connector's or the
// router's (ready when every replica that answered is).
type Service struct {
	// Admin is the base URL asked (comma-separated for several
	// replicas), or "" (Unreachable says why).
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
	// Replicas is each replica's answer, when there are several.
	Replicas []Service `json:"replicas,omitempty"`
	// LastWrite is when the sink last durably wrote a batch (the newest
	// over its replicas), from its
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
	Replicas []Service `json:"replicas,omitempty"`
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
	// Token is the admin bearer token (config Admin.Token), or "".
	Token string
	// Scheme is the admin endpoints' scheme: "https" when the pipeline
	// serves them over TLS, else "http".
	Scheme string
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
	if o.Scheme == "" {
		o.Scheme = "http"
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
			cr.Service, cr.Replicas, cr.LastWrite, cr.LastWriteFrom = sinkServices(ctx, o, g, c.Listen)
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
			rt.Service, rt.Replicas, rt.TxPerSecond, rt.TxAborted = routerServices(ctx, o, g, p.Router.Listen)
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
			mm := Member{ClientID: m.ClientID, Host: m.ClientHost, Partitions: []int32{}, Admin: admin.AdminURL(m.ClientID, m.ClientHost)}
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

// bases is where to ask a service: every address its group's members
// advertise, else the pipeline file's listen, or "" with the reason.
func bases(o Options, g Group, listen string) ([]string, string) {
	var out []string
	seen := map[string]bool{}
	for _, m := range g.Members {
		if m.Admin != "" && !seen[m.Admin] {
			seen[m.Admin] = true
			out = append(out, m.Admin)
		}
	}
	if len(out) > 0 {
		return out, ""
	}
	if listen == "" {
		return nil, fmt.Sprintf("no member of group %s advertises its admin address (none running?), and the pipeline file gives no listen address", g.Name)
	}
	base, why := adminURL(o.Scheme, listen)
	if base == "" {
		return nil, why
	}
	return []string{base}, ""
}

// summary sums up the replicas' answers: ready when every replica that
// answered is, with each not-ready replica's reason.
func summary(rs []Service) Service {
	var s Service
	var admins, details, unreachable []string
	for _, r := range rs {
		admins = append(admins, r.Admin)
		switch {
		case r.Ready == nil:
			unreachable = append(unreachable, r.Admin+": "+r.Unreachable)
		case s.Ready == nil || *s.Ready:
			s.Ready = r.Ready
		}
		if r.Ready != nil && !*r.Ready {
			d := r.ReadyDetail
			if len(rs) > 1 {
				d = r.Admin + ": " + d
			}
			details = append(details, d)
		}
	}
	s.Admin = strings.Join(admins, ", ")
	s.ReadyDetail = strings.Join(details, "; ")
	if len(rs) == 1 {
		s.Unreachable = rs[0].Unreachable
	} else {
		s.Unreachable = strings.Join(unreachable, "; ")
	}
	return s
}

// sinkServices asks every replica of a sink.
func sinkServices(ctx context.Context, o Options, g Group, listen string) (Service, []Service, *time.Time, string) {
	bs, why := bases(o, g, listen)
	if len(bs) == 0 {
		return Service{Unreachable: why}, nil, nil, "unknown: the sink's /metrics (auditstream_sink_last_write_timestamp_seconds) is not reachable: " + why
	}
	rs := make([]Service, len(bs))
	lasts := make([]*time.Time, len(bs))
	froms := make([]string, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() { rs[i], lasts[i], froms[i] = sinkService(ctx, o, b) })
	}
	wg.Wait()
	var last *time.Time
	from := froms[0]
	for i, t := range lasts {
		if t != nil && (last == nil || t.After(*last)) {
			last, from = t, froms[i]
		}
	}
	if len(rs) == 1 {
		return rs[0], nil, last, from
	}
	return summary(rs), rs, last, from
}

// sinkService asks one sink replica's admin endpoints.
func sinkService(ctx context.Context, o Options, base string) (Service, *time.Time, string) {
	s := Service{Admin: base}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	ok, detail, err := ready(ctx, o.HTTP, o.Token, base)
	if err != nil {
		s.Unreachable = err.Error()
		return s, nil, "unknown: " + base + "/metrics not reachable"
	}
	s.Ready, s.ReadyDetail = &ok, detail
	ss, err := scrape(ctx, o.HTTP, o.Token, base)
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

// routerServices asks every replica of the router; the transaction rates
// are summed.
func routerServices(ctx context.Context, o Options, g Group, listen string) (Service, []Service, *float64, *float64) {
	bs, why := bases(o, g, listen)
	if len(bs) == 0 {
		return Service{Unreachable: why}, nil, nil, nil
	}
	rs := make([]Service, len(bs))
	rates := make([]*float64, len(bs))
	aborts := make([]*float64, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() { rs[i], rates[i], aborts[i] = routerService(ctx, o, b) })
	}
	wg.Wait()
	var rate, aborted *float64
	for i := range rates {
		if rates[i] != nil {
			if rate == nil {
				rate, aborted = new(float64), new(float64)
			}
			*rate += *rates[i]
			*aborted += *aborts[i]
		}
	}
	if len(rs) == 1 {
		return rs[0], nil, rate, aborted
	}
	return summary(rs), rs, rate, aborted
}

// routerService asks one router replica's admin endpoints, sampling its
// transaction counter twice, o.RateWindow apart.
func routerService(ctx context.Context, o Options, base string) (Service, *float64, *float64) {
	s := Service{Admin: base}
	hc, token := o.HTTP, o.Token
	rctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	ok, detail, err := ready(rctx, hc, token, base)
	if err != nil {
		s.Unreachable = err.Error()
		return s, nil, nil
	}
	s.Ready, s.ReadyDetail = &ok, detail
	first, err := scrape(rctx, hc, token, base)
	if err != nil {
		return s, nil, nil
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return s, nil, nil
	case <-time.After(o.RateWindow):
	}
	sctx, cancel2 := context.WithTimeout(ctx, reachTimeout)
	defer cancel2()
	second, err := scrape(sctx, hc, token, base)
	if err != nil {
		return s, nil, nil
	}
	c0, _ := sum(first, "auditstream_router_transactions_total", `result="commit"`)
	c1, _ := sum(second, "auditstream_router_transactions_total", `result="commit"`)
	rate := (c1 - c0) / time.Since(t0).Seconds()
	aborted, _ := sum(second, "auditstream_router_transactions_total", `result="abort"`)
	return s, &rate, &aborted
}
