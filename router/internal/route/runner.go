package route

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/router/internal/state"
	"github.com/auditstream/auditstream/router/internal/topics"
	"github.com/auditstream/auditstream/service/kafkalog"
)

// Options configure a Runner.
type Options struct {
	Pipeline   *config.Pipeline
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// TransactionalID defaults to one unique to this process. With a
	// GroupTransactSession (KIP-447) zombies are fenced by the group
	// generation, so the id need not be stable across restarts.
	TransactionalID string
	// KafkaOpts are appended to the client options (tests use them).
	KafkaOpts []kgo.Opt
}

// Runner consumes the events topic in the router's consumer group and
// produces each event to the topics of the connectors that want it, in one
// Kafka transaction with the consumed offsets: exactly once into the
// connector topics, as seen by read_committed consumers.
//
// It also records, in the state topic, where each connector's live
// routing began in each partition it owns (liveStarts, prepareStarts), in
// the transaction that first routes the partition with the connector:
// backfill (package backfill) stops there.
type Runner struct {
	log      *slog.Logger
	m        *metrics
	sess     *kgo.GroupTransactSession
	adm      *kadm.Client
	admCl    *kgo.Client // adm's, for the requests kadm does not make
	interval time.Duration

	table    atomic.Pointer[Table] // swapped by Reload, read at each Begin
	joined   atomic.Bool
	failed   atomic.Pointer[error]
	aborts   atomic.Int64          // transactions aborted in a row
	aborted  atomic.Pointer[error] // why the last one aborted
	pipeline *config.Pipeline      // the one the runner started with

	starts    *liveStarts
	source    state.Source // the events topic, set by Run before it routes
	kafkaOpts []kgo.Opt    // reach the cluster, for reading the state topic
	sessOpts  []kgo.Opt    // the session's, for renewSession
	now       func() time.Time
}

// New creates a Runner. It does not contact Kafka until Run.
func New(o Options) (*Runner, error) {
	p := o.Pipeline
	table, err := NewTable(p)
	if err != nil {
		return nil, err
	}
	if o.TransactionalID == "" {
		o.TransactionalID = uniqueID(p.Router.Group)
	}
	r := &Runner{log: o.Log, m: newMetrics(o.Registerer), interval: p.Router.CommitInterval.D(), pipeline: p, starts: newLiveStarts(), now: time.Now}
	r.table.Store(table)
	r.m.generation.Set(1)

	base, err := p.Kafka.ClientOpts()
	if err != nil {
		return nil, err
	}
	r.kafkaOpts = append(base[:len(base):len(base)], o.KafkaOpts...)
	events := p.Topics.Events.Name
	opts := append(base,
		kgo.TransactionalID(o.TransactionalID),
		kgo.ConsumerGroup(p.Router.Group),
		kgo.ConsumeTopics(p.Topics.Events.Name),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A new owner of a partition must not read offsets that a
		// transaction still in flight may yet commit (KIP-447): franz-go
		// always fetches them stable (RequireStableFetchOffsets is a
		// deprecated no-op), so there is nothing to set.
		// A replica killed mid-transaction holds back read_committed
		// readers until its transaction times out; keep that short.
		kgo.TransactionTimeout(config.RouterTransactionTimeout),
		// A replica that dies is noticed after this long and its
		// partitions move on; Kafka's 45 s default would stall routing
		// for most of a minute.
		kgo.SessionTimeout(10*time.Second),
		// Bounded buffering. Fetch sizes count compressed bytes: audit
		// events compress about 6x, so 16 MiB fetched became 100+ MiB of
		// records per poll (747 MiB peak RSS draining a backlog). 1 MiB
		// keeps the peak near 120 MiB and was no slower (make bench).
		kgo.FetchMaxBytes(1<<20),
		kgo.FetchMaxPartitionBytes(256<<10),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(0),
		// franz-go's default batch limit (about 1 MB) is below an event at
		// the size cap with its headers: such an event could never be
		// produced, and its transaction would abort forever. The topics
		// take this much (topics.ForPipeline).
		kgo.ProducerBatchMaxBytes(o.Pipeline.RecordBytes()),
		kgo.WithLogger(kafkalog.New(o.Log)),
		// A live start is recorded from the group's committed offsets,
		// which are where the group begins only with this reset offset
		// (prepareStarts); it is franz-go's default, pinned here.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.log.Info("partitions assigned", "topic", events, "partitions", m[events])
			r.starts.assign(m[events])
			r.joined.Store(true)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.starts.revoke(m[events]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.starts.revoke(m[events])
			r.joined.Store(false)
		}),
	)
	opts = append(opts, o.KafkaOpts...)
	r.sessOpts = opts
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka transactional session: %w", err)
	}
	r.sess = sess
	// The admin client is its own: Reload uses it from another goroutine,
	// and the session may be replaced (renewSession).
	admCl, err := kgo.NewClient(r.kafkaOpts...)
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	r.admCl, r.adm = admCl, kadm.NewClient(admCl)
	return r, nil
}

// renewSession replaces a session whose transaction could not be ended
// (cause): the old one is closed, which leaves the group, and a new one,
// with a new transactional id, joins it again, as a restarted process
// would. That keeps exactly-once: the new member fetches the group's
// committed offsets stable (KIP-447; franz-go always does), so it waits
// until the old transaction is settled (committed, or aborted by the broker after
// the transaction timeout) and starts after what it committed; nothing an
// aborted transaction consumed counts as done. franz-go's own remedy,
// retrying End with TryAbort, is not enough here: when the commit's
// outcome is unknown (the broker went away after receiving EndTxn), End
// rewinds to the offsets this client last saw committed, and a commit
// that did land would then be routed twice.
//
// It waits backoff first, and returns an error only if the new session
// cannot be created (bad options, which a restart would not fix either).
func (r *Runner) renewSession(ctx context.Context, cause error, backoff time.Duration) error {
	r.log.Warn("transaction could not be ended; replacing the Kafka session (the transaction is aborted or settled by the broker, and its records are routed again if it did not commit)",
		"err", cause, "in", backoff)
	r.sess.Close()
	r.joined.Store(false)
	r.starts.revokeAll()
	select {
	case <-ctx.Done():
	case <-time.After(backoff):
	}
	opts := append(r.sessOpts[:len(r.sessOpts):len(r.sessOpts)], kgo.TransactionalID(uniqueID(r.pipeline.Router.Group)))
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("kafka transactional session: %w", err)
	}
	r.sess = sess
	r.m.renewals.Inc()
	return nil
}

func uniqueID(prefix string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s-%d-%s", prefix, host, os.Getpid(), hex.EncodeToString(b))
}

// maxAborts is how many transactions in a row may abort before the router
// says it is not ready. A rebalance aborts one, now and then; a record that
// cannot be produced, or a topic that refuses the router's records, aborts
// every one, and routing has stopped.
const maxAborts = 3

// Ready reports whether the router has joined its group, its last
// transaction did not fail, and its transactions are not aborting, one
// after another, without a commit (maxAborts).
func (r *Runner) Ready() (bool, string) {
	if err := r.failed.Load(); err != nil {
		return false, (*err).Error()
	}
	if n := r.aborts.Load(); n >= maxAborts {
		why := "no error"
		if err := r.aborted.Load(); err != nil {
			why = (*err).Error()
		}
		return false, fmt.Sprintf("%d transactions in a row aborted, the last: %s", n, why)
	}
	if !r.joined.Load() {
		return false, "not yet assigned partitions of the events topic"
	}
	return true, ""
}

// Reload makes a new routing config take effect from the next transaction
// on: events consumed after that point are routed by the new connectors,
// the ones before by the old. Connector topics the new config needs are
// created first. Settings outside the connectors (Kafka, topics, the
// router's group) need a restart and are ignored here, with a warning.
func (r *Runner) Reload(ctx context.Context, p *config.Pipeline) error {
	t, err := NewTable(p)
	if err != nil {
		return err
	}
	specs := topics.ForPipeline(p)
	if _, err := topics.Ensure(ctx, r.adm, specs); err != nil {
		return err
	}
	// The warnings were said at start; a topic that cannot keep an
	// acknowledged event is refused here too.
	if _, err := topics.Check(ctx, r.admCl, specs); err != nil {
		return err
	}
	if p.Topics.Events != r.pipeline.Topics.Events || p.Router != r.pipeline.Router {
		r.log.Warn("config reload: topic and router settings changed; they take effect at restart")
	}
	old := r.table.Swap(t)
	r.m.generation.Inc()
	r.log.Info("config reloaded", "connectors", ids(t), "previous", ids(old))
	return nil
}

func ids(t *Table) []string {
	var out []string
	for _, c := range t.Connectors {
		out = append(out, c.ID)
	}
	return out
}

// Run routes until ctx ends, then finishes the open transaction and leaves
// the group. It waits for a cluster that cannot be reached (prepare), and
// replaces its session when a transaction cannot be ended (renewSession).
// It returns an error only for what waiting will not fix: a broker's
// non-retriable answer (fenced producer, missing ACL, invalid setting).
func (r *Runner) Run(ctx context.Context) error {
	// Shutdown order: end the open transaction (inside the loop), then
	// leave the group and close (Close does both).
	// r.sess may be replaced (renewSession): close the last one.
	defer func() { r.sess.Close() }()
	defer r.adm.Close()
	src, err := r.prepare(ctx)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	r.source = src
	var startsWarned time.Time
	renewBackoff := startBackoff
	for {
		// The poll is bounded so that a live start waiting on an idle
		// topic (a connector added by a reload while no events flow) is
		// recorded without waiting for traffic.
		pctx, cancel := context.WithTimeout(ctx, idlePoll)
		fs := r.sess.PollFetches(pctx)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		r.fetchErrors(fs)
		// The table is taken after the poll: a reload during a long poll
		// applies to what the poll returned.
		table := r.table.Load()
		var starts []*kgo.Record
		var recorded []start
		pend := r.starts.pending(table)
		r.m.starts.Set(float64(len(pend)))
		if len(pend) > 0 {
			var err error
			if starts, recorded, err = r.prepareStarts(ctx, pend); err != nil && time.Since(startsWarned) > 30*time.Second {
				// Tried again every transaction; said twice a minute.
				r.log.Warn("live starts not recorded yet; retrying with each transaction", "pending", len(pend), "err", err)
				startsWarned = time.Now()
			}
		}
		if fs.NumRecords() == 0 && len(starts) == 0 {
			continue
		}
		if err := r.transact(ctx, table, fs, starts, recorded); err != nil {
			r.failed.Store(&err)
			if fatal(err) || ctx.Err() != nil {
				return err
			}
			if err := r.renewSession(ctx, err, renewBackoff); err != nil {
				return err
			}
			renewBackoff = min(2*renewBackoff, maxStartBackoff)
			continue
		}
		renewBackoff = startBackoff
	}
}

// WaitingPrefix starts the not-ready reason while Run waits for the
// cluster at start (the admin endpoint's public reason keys on it).
const WaitingPrefix = "waiting for Kafka"

// prepare creates the pipeline's topics and reads the events topic's id.
// A cluster that cannot be reached yet (a broker restarting, a router
// started before Kafka) is waited for, with capped backoff, until ctx ends:
// the router is not ready meanwhile. Only an error the cluster itself
// says will not change (a kerr error that is not retriable: no ACL, an
// invalid topic setting) stops it. It returns a zero Source and no error
// when ctx ends first.
func (r *Runner) prepare(ctx context.Context) (state.Source, error) {
	backoff := startBackoff
	for attempt := 1; ; attempt++ {
		src, err := r.prepareOnce(ctx)
		if err == nil {
			r.failed.Store(nil)
			return src, nil
		}
		if ctx.Err() != nil {
			return state.Source{}, nil
		}
		if fatal(err) {
			return state.Source{}, err
		}
		werr := fmt.Errorf("%s: %w", WaitingPrefix, err)
		r.failed.Store(&werr)
		r.log.Warn("kafka not usable yet; retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return state.Source{}, nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxStartBackoff)
	}
}

// Backoff between attempts of prepare.
const (
	startBackoff    = 500 * time.Millisecond
	maxStartBackoff = 15 * time.Second
)

func (r *Runner) prepareOnce(ctx context.Context) (state.Source, error) {
	specs := topics.ForPipeline(r.pipeline)
	created, err := topics.Ensure(ctx, r.adm, specs)
	if err != nil {
		return state.Source{}, err
	}
	if len(created) > 0 {
		r.log.Info("created topics", "topics", created)
	}
	src, err := state.SourceOf(ctx, r.adm, r.pipeline.Topics.Events.Name)
	if err != nil {
		return state.Source{}, err
	}
	// Last, so that its warnings are said once, when prepare succeeds.
	warnings, err := topics.Check(ctx, r.admCl, specs)
	if err != nil {
		return state.Source{}, err
	}
	for _, w := range warnings {
		r.log.Warn(w)
	}
	return src, nil
}

// fatal reports whether err, from prepare, will not go away by
// waiting: a broker's answer that is not retriable. Network errors
// ("unable to dial") and retriable broker errors are waited out.
func fatal(err error) bool {
	// A topic that cannot keep an acknowledged event (topics.Check).
	if errors.As(err, new(*topics.DurabilityError)) {
		return true
	}
	// errors.As would stop at the first kerr error; an offset commit joins
	// one per partition, and any non-retriable one is fatal.
	switch e := err.(type) {
	case nil:
		return false
	case *kerr.Error:
		return !e.Retriable
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(e.Unwrap(), fatal)
	}
	return fatal(errors.Unwrap(err))
}

// idlePoll bounds a poll that returns nothing.
const idlePoll = time.Second

// transact routes the given fetches and whatever more arrives within the
// commit interval in one transaction, with table, then ends it. The
// transaction also writes starts, the live starts that record (see
// prepareStarts).
func (r *Runner) transact(ctx context.Context, table *Table, first kgo.Fetches, starts []*kgo.Record, recorded []start) error {
	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Producing and ending use a context that shutdown does not cancel:
	// a shutdown finishes the transaction instead of abandoning it.
	work := context.WithoutCancel(ctx)
	promise := kgo.AbortingFirstErrPromise(r.sess.Client())
	tally := newTally()
	for _, rec := range starts {
		r.sess.Produce(work, rec, promise.Promise())
	}
	r.route(work, table, first, promise, tally)

	// A transaction that began behind the log's end ends when it catches
	// up, instead of at the interval: the end of a backlog is then visible
	// at once, not up to an interval later. A transaction that began
	// caught up (steady traffic) lasts the interval, so steady traffic
	// does not commit more often; and one that ends early has lasted a
	// quarter of it, so a router that keeps falling behind and catching
	// up commits at most four times as often.
	began := time.Now()
	behind := !caughtUp(r.sess.Client().BufferedFetchRecords(), first)
	deadline := began.Add(r.interval)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fs := r.sess.PollFetches(pctx)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		r.fetchErrors(fs)
		r.route(work, table, fs, promise, tally)
		if behind && time.Since(began) >= r.interval/4 && !fs.Empty() && caughtUp(r.sess.Client().BufferedFetchRecords(), fs) {
			break
		}
	}

	start := time.Now()
	endCtx, cancel := context.WithTimeout(work, 30*time.Second)
	defer cancel()
	committed, err := r.sess.End(endCtx, kgo.TransactionEndTry(promise.Err() == nil))
	r.m.commitTime.Observe(time.Since(start).Seconds())
	if err != nil {
		r.m.txns.WithLabelValues("abort").Inc()
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		// A rebalance or a failed produce aborted it; the records are
		// fetched again from the last committed offsets.
		r.m.txns.WithLabelValues("abort").Inc()
		r.m.aborting.Set(float64(r.aborts.Add(1)))
		perr := promise.Err()
		if perr != nil {
			r.log.Warn("transaction aborted", "err", perr, "in_a_row", r.aborts.Load())
		} else {
			perr = errors.New("aborted by a rebalance")
			r.log.Info("transaction aborted by a rebalance; its records will be routed again")
		}
		r.aborted.Store(&perr)
		return nil
	}
	r.aborts.Store(0)
	r.m.aborting.Set(0)
	if len(recorded) > 0 {
		r.starts.done(recorded)
		r.log.Info("live starts recorded", "starts", len(recorded), "connectors", connectorsOf(recorded))
	}
	r.m.txns.WithLabelValues("commit").Inc()
	tally.publish(r.m)
	r.failed.Store(nil)
	return nil
}

// caughtUp reports whether a poll read each of its partitions up to the
// high watermark, with nothing more buffered (the client's
// BufferedFetchRecords). It may say false when caught up (a transaction
// marker after the last record), which only keeps a transaction to its
// interval.
func caughtUp(buffered int64, fs kgo.Fetches) bool {
	if buffered > 0 {
		return false
	}
	up := true
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 < p.HighWatermark {
			up = false
		}
	})
	return up
}

// route produces the routed records of a batch of fetches.
func (r *Runner) route(ctx context.Context, t *Table, fs kgo.Fetches, promise *kgo.FirstErrPromise, sum *tally) {
	var parts []kgo.FetchTopicPartition
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			parts = append(parts, p)
		}
	})
	// Reading and checking every value is most of the router's own work;
	// the partitions of a poll are routed in parallel, one goroutine per
	// core. Each source partition stays on one goroutine, in order, so
	// the records of a key (which all come from one source partition) are
	// produced in their order.
	workers := min(len(parts), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for _, p := range parts {
			r.routePartition(ctx, t, p, promise, sum)
		}
		return
	}
	tallies := make([]*tally, workers)
	var wg sync.WaitGroup
	for i := range workers {
		tallies[i] = newTally()
		wg.Go(func() {
			for j := i; j < len(parts); j += workers {
				r.routePartition(ctx, t, parts[j], promise, tallies[i])
			}
		})
	}
	wg.Wait()
	for _, x := range tallies {
		sum.merge(x)
	}
}

// routePartition produces the routed records of one partition's fetch.
func (r *Runner) routePartition(ctx context.Context, t *Table, p kgo.FetchTopicPartition, promise *kgo.FirstErrPromise, tally *tally) {
	var out []*kgo.Record
	for _, rec := range p.Records {
		var o Outcome
		out, o = t.Route(rec, out[:0])
		tally.add(o)
		for _, rr := range out {
			r.sess.Produce(ctx, rr, promise.Promise())
		}
	}
	last := p.Records[len(p.Records)-1].Offset
	r.m.lag.WithLabelValues(strconv.Itoa(int(p.Partition))).Set(float64(max(p.HighWatermark-last-1, 0)))
}

// fetchErrors logs fetch errors. The client retries them by itself; a
// deadline error only means the commit interval ended during a poll.
func (r *Runner) fetchErrors(fs kgo.Fetches) {
	fs.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		r.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
	})
}

// tally counts one transaction's outcomes; they reach the metrics only if
// the transaction commits, so the counters never count aborted work.
type tally struct {
	in       int
	filtered int
	routed   map[string]int
	dlq      map[string]int
	unknown  map[string]int
}

func newTally() *tally {
	return &tally{routed: map[string]int{}, dlq: map[string]int{}, unknown: map[string]int{}}
}

func (t *tally) add(o Outcome) {
	t.in++
	switch {
	case o.DLQReason != "":
		t.dlq[o.DLQReason]++
	case len(o.Matched) == 0:
		t.filtered++
	}
	for _, id := range o.Matched {
		t.routed[id]++
	}
	if o.Unknown != "" {
		t.unknown[o.Unknown]++
	}
}

// merge adds another tally's counts to t.
func (t *tally) merge(o *tally) {
	t.in += o.in
	t.filtered += o.filtered
	for _, pair := range [][2]map[string]int{{t.routed, o.routed}, {t.dlq, o.dlq}, {t.unknown, o.unknown}} {
		for k, n := range pair[1] {
			pair[0][k] += n
		}
	}
}

func (t *tally) publish(m *metrics) {
	m.in.Add(float64(t.in))
	m.filtered.Add(float64(t.filtered))
	m.txnRecords.Observe(float64(t.in))
	for id, n := range t.routed {
		m.routed.WithLabelValues(id).Add(float64(n))
	}
	for reason, n := range t.dlq {
		m.dlq.WithLabelValues(reason).Add(float64(n))
	}
	for enc, n := range t.unknown {
		m.unknown.WithLabelValues(enc).Add(float64(n))
	}
}

func connectorsOf(ss []start) []string {
	var out []string
	for _, x := range ss {
		if !slices.Contains(out, x.connector) {
			out = append(out, x.connector)
		}
	}
	return out
}
