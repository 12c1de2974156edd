package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/pipeline"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

// LatencyOptions configure Latency.
type LatencyOptions struct {
	Cluster   *cluster.Cluster
	S3        S3
	RouterBin string
	SinkBin   string
	// IntakeBin is the Datadog intake test server: a Datadog connector
	// beside the S3 one gets every event too.
	IntakeBin string
	// Rate is events per second, published for Duration.
	Rate     float64
	Duration time.Duration
	// List is how often the bucket is listed for new objects.
	List   time.Duration
	Seed   uint64
	LogDir string
	Log    *slog.Logger
}

// Latency measures the sinks' end-to-end latency behind the router: it
// publishes events at a steady rate into a fresh events topic, which a
// router routes to one S3 connector and one Datadog connector (no filters),
// and records for each event the time from its publish to the moment its
// object is first listed in the bucket, and to the moment the intake test
// server received the request that carried it (an accepted one: the intake
// keeps only the logs of those).
func Latency(ctx context.Context, o LatencyOptions) ([]report.Result, error) {
	began := time.Now()
	cl := o.Cluster
	id := cl.ID("e2e")
	events, err := cl.Topic(ctx, "e2e.events")
	if err != nil {
		return nil, err
	}
	dlq, err := cl.Topic(ctx, "e2e.dlq")
	if err != nil {
		return nil, err
	}
	ddID := cl.ID("e2e-dd")
	// The router would create the connector topics itself, while on the
	// clock.
	for _, c := range []string{id, ddID} {
		if _, err := cl.Topic(ctx, "c."+c); err != nil {
			return nil, err
		}
	}
	in, err := startIntake(o.IntakeBin, o.LogDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := in.proc.Stop(); err != nil {
			o.Log.Warn("stop the intake", "err", err)
		}
	}()
	b, err := newBucket(ctx, o.S3, id)
	if err != nil {
		return nil, err
	}
	defer b.remove(ctx, o.Log)
	const prefix = "e2e"
	path := filepath.Join(o.LogDir, "e2e.yaml")
	file := pipeline.File{Brokers: cl.Brokers(), Events: events, DLQ: dlq, Prefix: cl.Name("c."), RouterGroup: cl.Group("e2e.router"),
		Connectors: []map[string]any{b.connector(id, prefix), in.connector(ddID)}}
	if err := file.Write(path); err != nil {
		return nil, err
	}
	p, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	// The batch limits are the destinations' defaults, which only the
	// sinks know: ask them.
	batch, _, err := sinkLimits(o.SinkBin, path, id)
	if err != nil {
		return nil, err
	}
	ddBatch, _, err := sinkLimits(o.SinkBin, path, ddID)
	if err != nil {
		return nil, err
	}
	cl.AddGroup(p.ConnectorGroup(id))
	cl.AddGroup(p.ConnectorGroup(ddID))

	// Shutdown order: the sink, then the router.
	router, err := startReady(ctx, drain.Child{Argv: []string{o.RouterBin, "run", "--config", path}, Log: filepath.Join(o.LogDir, "e2e-router.log")})
	if err != nil {
		return nil, err
	}
	defer router.stop(o.Log)
	sink, err := startReady(ctx, drain.Child{Argv: []string{o.SinkBin, "run", "--config", path, "--connector", id}, Log: filepath.Join(o.LogDir, "e2e-sink.log")})
	if err != nil {
		return nil, err
	}
	defer sink.stop(o.Log)
	ddSink, err := startReady(ctx, drain.Child{Argv: []string{o.SinkBin, "run", "--config", path, "--connector", ddID}, Log: filepath.Join(o.LogDir, "e2e-ddsink.log")})
	if err != nil {
		return nil, err
	}
	defer ddSink.stop(o.Log)

	w := newWatch(b, prefix, o.List)
	iw := &intakeWatch{in: in, every: o.List, seen: newSeen()}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched := make(chan error, 2)
	go func() { watched <- w.run(wctx) }()
	go func() { watched <- iw.run(wctx) }()

	o.Log.Info("publishing", "rate", o.Rate, "seconds", o.Duration.Seconds(), "max_age", batch.MaxAge.D())
	published, err := publish(ctx, cl.Brokers(), events, o.Rate, o.Duration, o.Seed)
	if err != nil {
		return nil, err
	}
	// Every event should be listed within max_age plus the router's
	// commit interval and a write; give it plenty more.
	wait := batch.MaxAge.D() + 30*time.Second
	o.Log.Info("published; waiting for the objects", "events", len(published), "up_to", wait)
	missing := w.await(ctx, published, wait)
	ddMissing := iw.await(ctx, published, ddBatch.MaxAge.D()+30*time.Second)
	stopWatch()
	if err := errors.Join(<-watched, <-watched); err != nil {
		return nil, err
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of %d events were not in any object listed within %v of the last publish; logs: %s, %s", missing, len(published), wait, router.log, sink.log)
	}
	if ddMissing > 0 {
		return nil, fmt.Errorf("%d of %d events were not accepted by the intake within %v of the last publish; logs: %s, %s", ddMissing, len(published), ddBatch.MaxAge.D()+30*time.Second, router.log, ddSink.log)
	}
	lat, dups := w.latencies(published)
	ddLat, ddDups := iw.latencies(published)
	res := latencyResult(o, lat, dups, w.objects(), batch, time.Since(began))
	addIntakeLatency(&res, ddLat, ddDups, ddBatch, o)
	return []report.Result{res}, nil
}

// intakeWatch reads the logs the intake accepted, noting for each event
// when the intake received the request that carried it.
type intakeWatch struct {
	in    *intake
	every time.Duration
	since uint64
	*seen
}

// run reads new logs every iw.every until ctx ends.
func (iw *intakeWatch) run(ctx context.Context) error {
	t := time.NewTicker(iw.every)
	defer t.Stop()
	for {
		if err := iw.read(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// read takes every log accepted since the last read, page by page.
func (iw *intakeWatch) read(ctx context.Context) error {
	for {
		page, err := iw.in.logs(ctx, iw.since)
		if err != nil {
			return err
		}
		for _, l := range page.Logs {
			var ev struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(l.Message), &ev); err != nil || ev.ID == "" {
				return fmt.Errorf("intake log %d: no event id in its message %.80q", l.ID, l.Message)
			}
			iw.note(ev.ID, l.Received)
		}
		iw.since = page.Next
		if !page.More {
			return nil
		}
	}
}

// proc is a child that runs for the whole scenario.
type proc struct {
	*drain.Proc
	log string
}

// stop stops the child, logging what went wrong.
func (p *proc) stop(log *slog.Logger) {
	if err := p.Stop(); err != nil {
		log.Warn("stop", "log", p.log, "err", err)
	}
}

// startReady starts a router or a sink and waits until its /readyz
// answers 200 (the sink: it has joined its group and has partitions).
func startReady(ctx context.Context, c drain.Child) (*proc, error) {
	p, err := drain.Start(c)
	if err != nil {
		return nil, err
	}
	url, err := drain.AdminURL(ctx, c.Log, "/readyz")
	deadline := time.Now().Add(60 * time.Second)
	for err == nil {
		var resp *http.Response
		if resp, err = http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &proc{Proc: p, log: c.Log}, nil
			}
		}
		err = nil // not ready yet
		if time.Now().After(deadline) {
			err = fmt.Errorf("not ready within 60 s")
			break
		}
		select {
		case e := <-p.Exited():
			return nil, p.Failed("exited before it was ready", e)
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = p.Stop()
	return nil, p.Failed("start", err)
}

// publish produces fresh events (each with a new id) to topic at rate for
// d, with franz-go and the record contract, and returns when each event was
// handed to the client, by id.
func publish(ctx context.Context, brokers []string, topic string, rate float64, d time.Duration, seed uint64) (map[string]time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("publish client: %w", err)
	}
	defer cl.Close()
	gen := workload.NewGenerator(seed)
	n := int(rate * d.Seconds())
	at := make(map[string]time.Time, n)
	var (
		mu     sync.Mutex
		failed error
	)
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		// Publish every event that is due by now, then wait a tick.
		due := min(n, int(time.Since(start).Seconds()*rate)+1)
		for ; i < due; i++ {
			ev := gen.Next()
			r, err := record.Marshal(ev, record.Protobuf)
			if err != nil {
				return nil, fmt.Errorf("encode event: %w", err)
			}
			at[ev.GetId()] = time.Now()
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if failed != nil {
		return nil, fmt.Errorf("publish: %w", failed)
	}
	return at, nil
}

// watch lists a bucket's prefix for new data objects and reads the event
// ids of each, noting when each object was first listed.
type watch struct {
	b      *bucket
	prefix string
	every  time.Duration

	listed map[string]time.Time // object key -> end of the first listing that showed it
	*seen                       // event id -> when each object holding it was first listed
}

func newWatch(b *bucket, prefix string, every time.Duration) *watch {
	return &watch{b: b, prefix: prefix, every: every, listed: map[string]time.Time{}, seen: newSeen()}
}

// run lists every w.every until ctx ends.
func (w *watch) run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		if err := w.list(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// list takes one listing, then reads the objects it shows for the first
// time.
func (w *watch) list(ctx context.Context) error {
	objs, err := w.b.objects(ctx, w.prefix)
	listed := time.Now()
	if err != nil {
		return err
	}
	for _, o := range objs {
		w.mu.Lock()
		_, old := w.listed[o.key]
		w.mu.Unlock()
		if old {
			continue
		}
		ids, err := w.b.ids(ctx, o.key)
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.listed[o.key] = listed
		w.mu.Unlock()
		for _, id := range ids {
			w.note(id, listed)
		}
	}
	return nil
}

// seen is when each event was seen delivered, once or more.
type seen struct {
	mu      sync.Mutex
	visible map[string][]time.Time
}

func newSeen() *seen { return &seen{visible: map[string][]time.Time{}} }

// note records one delivery of event id at t.
func (s *seen) note(id string, t time.Time) {
	s.mu.Lock()
	s.visible[id] = append(s.visible[id], t)
	s.mu.Unlock()
}

// await waits until every published event is seen, or for up to wait, and
// returns how many are not. It checks every 250 ms.
func (w *seen) await(ctx context.Context, published map[string]time.Time, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		w.mu.Lock()
		missing := 0
		for id := range published {
			if len(w.visible[id]) == 0 {
				missing++
			}
		}
		w.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// latencies returns each published event's latency to its first
// delivery, sorted, and how many events were delivered more than once.
func (w *seen) latencies(published map[string]time.Time) (lat []time.Duration, dups int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, at := range published {
		v := w.visible[id]
		if len(v) > 1 {
			dups++
		}
		lat = append(lat, slices.MinFunc(v, time.Time.Compare).Sub(at))
	}
	slices.Sort(lat)
	return lat, dups
}

func (w *watch) objects() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.listed)
}

// latencyResult is scenario 7.
func latencyResult(o LatencyOptions, lat []time.Duration, dups, objects int, batch config.Batch, took time.Duration) report.Result {
	maxAge := batch.MaxAge.D()
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	res := report.Result{
		Scenario: S3LatencyScenario,
		Params: map[string]any{"rate": o.Rate, "publish_s": o.Duration.Seconds(), "events": len(lat), "partitions": cluster.Partitions,
			"batch_max_age_s": maxAge.Seconds(), "list_interval_ms": o.List.Milliseconds()},
		Seconds: took.Seconds(),
	}
	p99 := report.Compare("Publish to object visible, p99", "s", q(0.99), 0, "", report.AtMost((maxAge + 2*time.Second).Seconds()))
	p99.Headline, p99.Claim = true, report.ClaimE2E
	res.Figures = []report.Figure{
		report.Compare("Publish to object visible, p50", "s", q(0.50), 0, "", nil),
		p99,
		report.Compare("Publish to object visible, max", "s", lat[len(lat)-1].Seconds(), 0, "", nil),
	}
	run := report.NewRun(fmt.Sprintf("router + S3 sink at %.0f events/s", o.Rate), int64(len(lat)), o.Duration)
	run.Extra = map[string]float64{"objects": float64(objects), "events_per_object": float64(len(lat)) / float64(max(objects, 1)),
		"p90_s": q(0.90), "min_s": lat[0].Seconds(), "duplicates": float64(dups)}
	res.Runs = []report.Run{run}
	res.Notes = []string{
		"published: the moment each event (a fresh id) is handed to franz-go's Produce (lz4, linger 5ms), with the SDK's record contract, into the router's input topic; the router (default commit interval) routes every event to one S3 connector and one Datadog connector, whose sinks run with the connectors' default batch limits",
		fmt.Sprintf("visible: the end of the first ListObjectsV2 of the bucket's prefix (taken every %v) that lists the data object holding the event; a latency is that moment minus the publish, so it overstates the true one by up to one listing interval plus the listing's own time", o.List),
	}
	perAge := o.Rate / cluster.Partitions * maxAge.Seconds()
	by := "under max_events (%d), so its batches are written by age"
	if perAge >= float64(batch.MaxEvents) {
		by = "at least max_events (%d), so its batches fill by count first"
	}
	res.Notes = append(res.Notes, fmt.Sprintf("goal: max_age (%v, the connector's default) + 2 s; at %.0f events/s a partition receives about %.0f events within max_age, "+by,
		maxAge, o.Rate, perAge, batch.MaxEvents))
	if dups > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("DUPLICATES: %d events were in more than one object", dups))
	}
	return res
}

// addIntakeLatency adds the latencies to intake accepted to scenario 7.
func addIntakeLatency(res *report.Result, lat []time.Duration, dups int, batch config.Batch, o LatencyOptions) {
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	res.Figures = append(res.Figures,
		report.Compare("Publish to intake accepted, p50", "s", q(0.50), 0, "", nil),
		report.Compare("Publish to intake accepted, p99", "s", q(0.99), 0, "", nil),
		report.Compare("Publish to intake accepted, max", "s", lat[len(lat)-1].Seconds(), 0, "", nil),
	)
	run := report.NewRun(fmt.Sprintf("router + Datadog sink at %.0f events/s", o.Rate), int64(len(lat)), o.Duration)
	run.Extra = map[string]float64{"p90_s": q(0.90), "min_s": lat[0].Seconds(), "duplicates": float64(dups), "batch_max_age_s": batch.MaxAge.D().Seconds()}
	res.Runs = append(res.Runs, run)
	res.Params["intake_batch_max_age_s"] = batch.MaxAge.D().Seconds()
	res.Notes = append(res.Notes, fmt.Sprintf("intake accepted: the time the intake test server received the request that carried the event, from the logs it kept (it keeps those of accepted requests only; GET /_intake/logs every %v); the Datadog connector (default batch limits, max_age %v) reads the same events beside the S3 one; no goal is set for it", o.List, batch.MaxAge.D()))
	if dups > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("DUPLICATES at the intake: %d events were accepted more than once (Datadog delivery is at least once)", dups))
	}
}
