package produce

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/report"
	"github.com/auditstream/auditstream/bench/internal/workload"
	"github.com/auditstream/auditstream/producer"
)

// LatencyScenario names the latency scenario in reports.
const LatencyScenario = "2 publish latency"

// Load is one rate to publish at.
type Load struct {
	Rate  float64 // calls per second, issued whatever their latency
	Label string  // what the rate is, e.g. "50% of raw"
}

// LatencyOptions configure Latency.
type LatencyOptions struct {
	Cluster  *cluster.Cluster
	Pool     *workload.Pool
	Loads    []Load
	Duration time.Duration // of each side at each load
	Log      *slog.Logger
}

// syncSide is one way of sending one event and waiting for its ack.
type syncSide struct {
	name string
	open func(brokers []string, pool *workload.Pool, topic string) (send func(context.Context, int) error, closeFn func(), err error)
}

// turns is how many times each side publishes at each load, alternating
// with the other, for Duration/turns each time: drift in the machine's load
// then touches both sides alike.
const turns = 2

// Latency publishes synchronously, open loop, at each load: raw franz-go
// ProduceSync and the SDK's Publish in alternating turns. It compares
// their latency percentiles.
func Latency(ctx context.Context, o LatencyOptions) (report.Result, error) {
	began := time.Now()
	res := report.Result{
		Scenario: LatencyScenario,
		Params:   map[string]any{"seconds_per_side": o.Duration.Seconds(), "turns": turns, "partitions": cluster.Partitions, "callers": callers},
	}
	sides := []syncSide{{"raw franz-go ProduceSync", openRaw}, {"SDK Publish", openSDK}}
	for li, l := range o.Loads {
		at := fmt.Sprintf(" @ %.0fk/s (%s)", l.Rate/1000, l.Label)
		got := make([]sample, len(sides))
		for sl := range turns {
			for i, s := range sides {
				one, err := publishSlice(ctx, o, s, l.Rate, o.Duration/turns, fmt.Sprintf("latency.%d.%d.%d", li, sl, i))
				if err != nil {
					return res, fmt.Errorf("%s%s: %w", s.name, at, err)
				}
				got[i].add(one)
			}
		}
		for i, s := range sides {
			g := &got[i]
			g.sort()
			run := report.NewRun(s.name+at, int64(len(g.lats)), o.Duration)
			run.Extra = map[string]float64{
				"target_rate": l.Rate, "max_behind_ms": ms(g.behind), "max_in_flight": float64(g.maxInFlight),
				"p50_ms": ms(g.quantile(0.50)), "p99_ms": ms(g.quantile(0.99)), "p999_ms": ms(g.quantile(0.999)), "max_ms": ms(g.quantile(1)),
			}
			o.Log.Info("published", "side", s.name, "load", l.Label, "issued_per_s", int(run.Rate), "p50_ms", run.Extra["p50_ms"], "p99_ms", run.Extra["p99_ms"], "max_ms", run.Extra["max_ms"])
			res.Runs = append(res.Runs, run)
			if run.Rate < 0.98*l.Rate || g.behind > 100*time.Millisecond {
				res.Notes = append(res.Notes, fmt.Sprintf("OVERLOAD: %s%s issued %.0f calls/s and fell up to %.0f ms behind its schedule, every caller busy: past its capacity, its latencies are mostly queueing and grow with the run's length",
					s.name, at, run.Rate, ms(g.behind)))
			}
		}
		raw, sdk := got[0], got[1]
		for _, q := range []struct {
			name string
			q    float64
		}{{"Publish p50", 0.50}, {"Publish p99", 0.99}, {"Publish max", 1}} {
			res.Figures = append(res.Figures, report.Compare(q.name+at, "ms", ms(sdk.quantile(q.q)), ms(raw.quantile(q.q)), "franz-go ProduceSync", nil))
		}
	}
	res.Differences = []string{
		"same client settings and records as scenario 1; Publish validates and encodes each event on the caller's goroutine, ProduceSync sends a pre-encoded record",
		fmt.Sprintf("latency runs from when a call was due by the schedule, not from when it started: a call waiting for one of the %d callers, or for a late issuer, counts the wait (no coordinated omission)", callers),
		fmt.Sprintf("each side publishes %d times per load for %v each, alternating with the other, each time to a fresh topic with a fresh client; the percentiles pool its turns", turns, o.Duration/turns),
	}
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// publishSlice publishes at rate for d through a new client of side s, to
// a fresh topic.
func publishSlice(ctx context.Context, o LatencyOptions, s syncSide, rate float64, d time.Duration, what string) (sample, error) {
	topic, err := o.Cluster.Topic(ctx, what)
	if err != nil {
		return sample{}, err
	}
	send, closeFn, err := s.open(o.Cluster.Brokers(), o.Pool, topic)
	if err != nil {
		return sample{}, err
	}
	defer closeFn()
	o.Log.Info("publishing open loop", "side", s.name, "rate", int(rate), "seconds", d.Seconds(), "topic", topic)
	return openLoop(ctx, rate, d, send)
}

func openRaw(brokers []string, pool *workload.Pool, topic string) (func(context.Context, int) error, func(), error) {
	cl, err := kgo.NewClient(rawOpts(brokers, topic)...)
	if err != nil {
		return nil, nil, fmt.Errorf("raw client: %w", err)
	}
	send := func(ctx context.Context, i int) error { return cl.ProduceSync(ctx, pool.Record(i, topic)).FirstErr() }
	if err := send(context.Background(), 0); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("warm up: %w", err)
	}
	return send, cl.Close, nil
}

func openSDK(brokers []string, pool *workload.Pool, topic string) (func(context.Context, int) error, func(), error) {
	p, err := producer.New(producer.Options{Brokers: brokers, Topic: topic})
	if err != nil {
		return nil, nil, err
	}
	send := func(ctx context.Context, i int) error { return p.Publish(ctx, pool.Event(i)) }
	closeFn := func() { _ = p.Close(context.Background()) }
	if err := send(context.Background(), 0); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("warm up: %w", err)
	}
	return send, closeFn, nil
}

// sample is the outcome of open-loop runs.
type sample struct {
	lats        []time.Duration // sorted once sort is called
	behind      time.Duration   // the most the issuer fell behind its schedule
	maxInFlight int64
}

// add merges another run's sample.
func (s *sample) add(o sample) {
	s.lats = append(s.lats, o.lats...)
	s.behind = max(s.behind, o.behind)
	s.maxInFlight = max(s.maxInFlight, o.maxInFlight)
}

func (s *sample) sort() { slices.Sort(s.lats) }

// quantile returns the q-quantile of the sorted latencies (q=1: the
// maximum).
func (s sample) quantile(q float64) time.Duration {
	if len(s.lats) == 0 {
		return 0
	}
	return s.lats[min(int(q*float64(len(s.lats))), len(s.lats)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// callers is how many calls may be in flight at once. It bounds the
// goroutines: one per call would, past the client's capacity, pile up
// faster than they finish.
const callers = 4096

// openLoop calls send rate times a second for d and measures each call from
// when the schedule said it was due, not from when it started: a call
// that waits for a free caller, or for the issuer to catch up, counts that
// wait (no coordinated omission). Every millisecond the issuer hands all
// the calls due by then to a pool of callers; when every caller is busy it
// waits, and falls behind. It stops issuing at d, even when behind, so an
// overloaded run ends on time and makes fewer calls. The latencies it
// returns are not sorted.
func openLoop(ctx context.Context, rate float64, d time.Duration, send func(context.Context, int) error) (sample, error) {
	n := int(rate * d.Seconds())
	if n <= 0 {
		return sample{}, fmt.Errorf("rate %.0f/s for %v: no calls to make", rate, d)
	}
	lats := make([]time.Duration, n)
	var (
		failed            firstErr
		inFlight, maxSeen atomic.Int64
		wg                sync.WaitGroup
	)
	start := time.Now()
	due := func(i int) time.Duration { return time.Duration(float64(i) / rate * float64(time.Second)) }
	calls := make(chan int, callers)
	for range callers {
		wg.Go(func() {
			for i := range calls {
				cur := inFlight.Add(1)
				for m := maxSeen.Load(); cur > m && !maxSeen.CompareAndSwap(m, cur); m = maxSeen.Load() {
				}
				failed.add(send(ctx, i))
				lats[i] = time.Since(start) - due(i)
				inFlight.Add(-1)
			}
		})
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var behind time.Duration
	issued := 0
issue:
	for issued < n {
		select {
		case <-ctx.Done():
			break issue
		case <-tick.C:
		}
		elapsed := time.Since(start)
		behind = max(behind, elapsed-due(issued))
		upTo := min(n, int(rate*elapsed.Seconds())+1)
		if elapsed > d {
			if n-issued > int(rate/100) {
				break // more than 10ms behind: overloaded; stop on time
			}
			upTo = n
		}
		for ; issued < upTo; issued++ {
			calls <- issued
		}
	}
	close(calls)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	if err := failed.get(); err != nil {
		return sample{}, fmt.Errorf("%d of %d calls failed, the first: %w", failed.count.Load(), issued, err)
	}
	return sample{lats: lats[:issued], behind: behind, maxInFlight: maxSeen.Load()}, nil
}
