// Package probe reads the pipeline's progress from Kafka: what each consumer
// group has committed against the end of its topic.
package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Group is a consumer group and the topic it consumes.
type Group struct {
	Name  string
	Topic string
	// Transactional topics end with a transaction marker that a consumer
	// may not commit past: one offset of lag per partition is drained.
	Transactional bool
}

// Probe reads offsets.
type Probe struct {
	adm   *kadm.Client
	cl    *kgo.Client
	seeds []string
}

// New connects to the brokers.
func New(brokers []string) (*Probe, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Probe{adm: kadm.NewClient(cl), cl: cl, seeds: brokers}, nil
}

// Close closes the client.
func (p *Probe) Close() { p.cl.Close() }

// Admin returns the admin client.
func (p *Probe) Admin() *kadm.Client { return p.adm }

// State is a group's position.
type State struct {
	Committed int64 // sum over partitions
	Lag       int64 // sum over partitions of end - committed, less the markers
	Drained   bool
	// Open holds the committed offset of each partition with lag.
	Open map[int32]int64
}

// Read returns a group's state.
func (p *Probe) Read(ctx context.Context, g Group) (State, error) {
	ends, err := p.adm.ListEndOffsets(ctx, g.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return State{}, fmt.Errorf("end offsets of %s: %w", g.Topic, err)
	}
	resp, err := p.adm.FetchOffsets(ctx, g.Name)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return State{}, fmt.Errorf("committed offsets of %s: %w", g.Name, err)
	}
	committed := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == g.Topic && o.At >= 0 {
			committed[o.Partition] = o.At
		}
	})
	var s State
	s.Drained = true
	ends.Each(func(o kadm.ListedOffset) {
		c := committed[o.Partition]
		s.Committed += c
		lag := o.Offset - c
		if g.Transactional && lag == 1 {
			lag = 0
		}
		if lag > 0 {
			s.Lag += lag
			s.Drained = false
			if s.Open == nil {
				s.Open = map[int32]int64{}
			}
			s.Open[o.Partition] = c
		}
	})
	return s, nil
}

// Records returns the number of records in a non-transactional topic: the
// sum of its end offsets (less its start offsets).
func (p *Probe) Records(ctx context.Context, topic string) (int64, error) {
	ends, err := p.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := p.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	starts.Each(func(o kadm.ListedOffset) { n -= o.Offset })
	return n, nil
}

// Recovery waits, after a fault has ended, until one of the groups commits
// past where it stood (or all are drained), and returns how long that took;
// it gives up after limit and returns false.
func (p *Probe) Recovery(ctx context.Context, groups []Group, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	base := map[string]int64{}
	for time.Since(start) < limit {
		drained := true
		for _, g := range groups {
			s, err := p.Settled(ctx, g)
			if err != nil {
				drained = false
				continue
			}
			b, ok := base[g.Name]
			if !ok {
				base[g.Name] = s.Committed
			} else if s.Committed > b {
				return time.Since(start), true
			}
			drained = drained && s.Drained
		}
		if drained && len(base) == len(groups) {
			return time.Since(start), true
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(500 * time.Millisecond):
		}
	}
	return time.Since(start), false
}

// Peek reads what a read_committed consumer would get from the open
// partitions' committed offsets within wait: records of aborted
// transactions and transaction markers are lag that no consumer can ever
// commit past, and a group whose lag is only that is drained.
func (p *Probe) Peek(ctx context.Context, g Group, open map[int32]int64, wait time.Duration) (int, error) {
	offs := map[int32]kgo.Offset{}
	for part, c := range open {
		offs[part] = kgo.NewOffset().At(c)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.seeds...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{g.Topic: offs}))
	if err != nil {
		return 0, fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	n := 0
	for n == 0 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		n += fs.NumRecords()
	}
	return n, nil
}

// Settled is Read, and for a transactional group with a little lag, a Peek
// that finds nothing left to consume makes it drained. Only meaningful once
// no transaction is open (the router drained, or stopped).
func (p *Probe) Settled(ctx context.Context, g Group) (State, error) {
	s, err := p.Read(ctx, g)
	if err != nil || s.Drained || !g.Transactional || s.Lag >= 100 {
		return s, err
	}
	if n, err := p.Peek(ctx, g, s.Open, 2*time.Second); err == nil && n == 0 {
		s.Drained = true
	}
	return s, nil
}
