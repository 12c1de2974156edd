// Package backfill fills a connector with the events of the events topic
// (audit.events) from before it was added to the router, within the
// topic's retention: `router backfill --connector ID --from T [--to T2]`.
//
// What it sends is exactly what the router would have sent the connector:
// each record goes through route.Table.Route with a table of that one
// connector, so the filter, the header check, the protobuf scan and the
// rewriting of headerless records are the router's own. Only the
// connector's topic receives anything: a record the router dead-lettered
// was dead-lettered when it was routed, and is not sent to the DLQ again;
// no other connector's topic is written.
//
// Where to stop. The router records, per partition of the events topic,
// the offset where the connector's live routing began (state.LiveStart, in
// the same transaction as that routing; see route.Runner). Backfill reads
// each partition from the offset of --from up to that live start (or --to's
// offset, if earlier), so nothing the router sent live is sent again. A
// partition whose live start is not recorded yet stops the run before it
// sends anything (ErrNoLiveStart): the router records it at its first
// transaction after the reload, even on a partition without traffic.
//
// Exactly once. Backfill is a transactional producer with a stable
// transactional id (<router group>-backfill-<connector>). Each transaction
// holds the records it sends and, in the state topic, the offsets of each
// partition they cover (state.Progress). Starting fences any earlier run
// of the same connector (its open transaction is aborted) before the
// progress is read, so a run killed at any point and run again resumes
// where the last committed transaction ended, and a run after a complete
// one sends nothing. Two runs at once for one connector fence each other:
// the older one fails.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/router/internal/route"
	"github.com/auditstream/auditstream/router/internal/state"
	"github.com/auditstream/auditstream/router/internal/topics"
	"github.com/auditstream/auditstream/service/kafkalog"
)

// ErrInterrupted means the run was stopped (SIGINT, SIGTERM) after its
// last transaction ended; running it again resumes.
var ErrInterrupted = errors.New("interrupted: what was sent is committed; run it again to resume")

// TransactionalID is the one id of a connector's backfills: each run
// fences the one before. The router group names the pipeline, so two
// pipelines on one cluster do not fence each other.
func TransactionalID(p *config.Pipeline, connector string) string {
	return p.Router.Group + "-backfill-" + connector
}

// Options configure a backfill.
type Options struct {
	Pipeline  *config.Pipeline
	Connector string
	// From is the time to start at; zero means the start of the retained
	// log. To, when set, is the time to end before; the live start is the
	// end anyway.
	From, To time.Time
	// Rate caps the offsets read per second (0: no cap), to spare the
	// brokers while the router is busy.
	Rate float64
	Log  *slog.Logger
	// Progress receives the progress bar (stderr), redrawn in place when
	// Terminal; nil shows none.
	Progress io.Writer
	Terminal bool
	// KafkaOpts are appended to the client options (tests use them).
	KafkaOpts []kgo.Opt
	Now       func() time.Time
}

// Summary is what a run did.
type Summary struct {
	Connector string `json:"connector"`
	Topic     string `json:"topic"`
	// Left counts the offsets left to read when the run began (earlier
	// runs did the rest). Read counts the offsets of the events topic read
	// (records and transaction markers); Sent the records sent to the
	// connector's topic; Filtered those its filter rejects; DeadLetters
	// those the router dead-letters (not sent again).
	Left         int64              `json:"left"`
	Read         int64              `json:"read"`
	Sent         int64              `json:"sent"`
	Filtered     int64              `json:"filtered"`
	DeadLetters  int64              `json:"dead_letters"`
	Transactions int                `json:"transactions"`
	Complete     bool               `json:"complete"`
	Seconds      float64            `json:"seconds"`
	Partitions   []PartitionSummary `json:"partitions"`
}

// PartitionSummary is one partition's range, after the run.
type PartitionSummary struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	End       int64 `json:"end"` // the live start, or --to's offset
	Next      int64 `json:"next"`
	Remaining int64 `json:"remaining"`
}

// Run backfills the connector. It returns the summary with
// ErrNoLiveStart, ErrInterrupted or another error when it did not finish.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := o.Pipeline
	began := o.Now()
	table, err := route.NewTable(p)
	if err != nil {
		return nil, err
	}
	var conn *route.Connector
	for i := range table.Connectors {
		if table.Connectors[i].ID == o.Connector {
			conn = &table.Connectors[i]
		}
	}
	if conn == nil {
		return nil, fmt.Errorf("connector %q is not in %s", o.Connector, p.Path)
	}
	// The router's own routing, for this one connector.
	table.Connectors = []route.Connector{*conn}
	sum := &Summary{Connector: conn.ID, Topic: conn.Topic}

	base, err := p.Kafka.ClientOpts()
	if err != nil {
		return nil, err
	}
	base = append(base, o.KafkaOpts...)
	events, stateTopic := p.Topics.Events.Name, p.Topics.State.Name
	cl, err := kgo.NewClient(append(base[:len(base):len(base)],
		kgo.TransactionalID(TransactionalID(p, conn.ID)),
		// A run killed mid-transaction holds back read_committed readers
		// of the connector topic (its sinks) until this runs out, or until
		// the next run starts.
		kgo.TransactionTimeout(config.RouterTransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers tell where a partition's range ends when its last
		// offsets are markers or aborted records (span.end).
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(1<<20),
		kgo.FetchMaxPartitionBytes(256<<10),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerBatchMaxBytes(p.RecordBytes()),
		kgo.WithLogger(kafkalog.New(o.Log)),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	setup, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	specs := topics.ForPipeline(p)
	if _, err := topics.Ensure(setup, adm, specs); err != nil {
		return nil, err
	}
	// The topics its transactions write (the connector's and the state
	// topic) must be able to acknowledge them.
	writes := slices.DeleteFunc(specs, func(s topics.Spec) bool { return s.Name != conn.Topic && s.Name != stateTopic })
	warnings, err := topics.Check(setup, cl, writes)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		o.Log.Warn(w)
	}
	// Fence any earlier run first: its open transaction is aborted, so the
	// progress read next is final.
	if _, _, err := cl.ProducerID(setup); err != nil {
		return nil, fmt.Errorf("init transactional producer: %w", err)
	}
	snap, err := state.Read(setup, base, stateTopic)
	if err != nil {
		return nil, err
	}
	src, err := state.SourceOf(setup, adm, events)
	if err != nil {
		return nil, err
	}
	live, err := snap.LiveStarts(src, conn.ID)
	if err != nil {
		return nil, err
	}
	progress, err := snap.Progress(src, conn.ID)
	if err != nil {
		return nil, err
	}
	parts, from, to, err := offsets(setup, adm, events, o.From, o.To)
	if err != nil {
		return nil, err
	}
	spans, err := plan(parts, from, to, live, progress)
	if err != nil {
		return sum, err
	}
	summarize := func() {
		sum.Partitions = sum.Partitions[:0]
		sum.Complete = true
		for _, s := range spans {
			sum.Partitions = append(sum.Partitions, PartitionSummary{s.partition, s.from, s.end, s.next, s.remaining()})
			sum.Complete = sum.Complete && s.finished()
		}
		sum.Seconds = o.Now().Sub(began).Seconds()
	}
	var total int64
	byPart := map[int32]*span{}
	consume := map[int32]kgo.Offset{}
	for _, s := range spans {
		total += s.remaining()
		byPart[s.partition] = s
		if !s.finished() {
			consume[s.partition] = kgo.NewOffset().At(s.next)
		}
	}
	sum.Left = total
	if len(consume) == 0 {
		summarize()
		return sum, nil
	}
	o.Log.Info("backfill", "connector", conn.ID, "topic", conn.Topic, "partitions", len(consume), "offsets", total)
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{events: consume})

	bar := newBar(o.Progress, o.Terminal, total, o.Now)
	w := &worker{cl: cl, table: table, topic: conn.Topic, stateTopic: stateTopic, events: src, spans: byPart,
		interval: p.Router.CommitInterval.D(), rate: o.Rate, now: o.Now, sum: sum, bar: bar}
	err = w.run(ctx)
	bar.finish(w.read)
	summarize()
	return sum, err
}

// offsets lists the partitions of the events topic and the offsets of
// from and to in each (to is nil when zero).
func offsets(ctx context.Context, adm *kadm.Client, topic string, from, to time.Time) ([]int32, map[int32]int64, map[int32]int64, error) {
	list := func(t time.Time) (map[int32]int64, error) {
		var l kadm.ListedOffsets
		var err error
		if t.IsZero() {
			l, err = adm.ListStartOffsets(ctx, topic)
		} else {
			l, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
		}
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
		}
		out := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out, nil
	}
	f, err := list(from)
	if err != nil {
		return nil, nil, nil, err
	}
	var t map[int32]int64
	if !to.IsZero() {
		if t, err = list(to); err != nil {
			return nil, nil, nil, err
		}
	}
	var parts []int32
	for p := range f {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return parts, f, t, nil
}

// worker moves the records of its spans, one transaction at a time.
type worker struct {
	cl         *kgo.Client
	table      *route.Table
	topic      string
	stateTopic string
	events     state.Source
	spans      map[int32]*span
	interval   time.Duration
	rate       float64
	now        func() time.Time
	sum        *Summary
	bar        *bar
	read       int64 // offsets read, for the bar
}

func (w *worker) unfinished() bool {
	for _, s := range w.spans {
		if !s.finished() {
			return true
		}
	}
	return false
}

func (w *worker) run(ctx context.Context) error {
	start := w.now()
	for w.unfinished() {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		if err := w.transact(ctx, start); err != nil {
			return err
		}
		w.bar.update(w.read)
		if ahead := w.ahead(start, 0); ahead > 0 && w.unfinished() {
			select {
			case <-ctx.Done():
			case <-time.After(ahead):
			}
		}
	}
	return nil
}

// transact reads for up to one commit interval and sends, in one
// transaction, the matching records and the progress they make.
func (w *worker) transact(ctx context.Context, began time.Time) error {
	if err := w.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Producing and ending use a context that an interrupt does not
	// cancel: the transaction ends, committed, instead of being abandoned.
	work := context.WithoutCancel(ctx)
	promise := kgo.AbortingFirstErrPromise(w.cl)
	// Where each partition's transaction began, and its counts, applied
	// only if it commits.
	txnFrom := map[int32]int64{}
	var read, sent, filtered, dead int64
	next := map[int32]int64{}
	for p, s := range w.spans {
		next[p] = s.next
	}
	var out []*kgo.Record
	deadline := w.now().Add(w.interval)
	for ctx.Err() == nil && w.now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fs := w.cl.PollFetches(pctx)
		cancel()
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			_ = w.cl.EndTransaction(work, kgo.TryAbort)
			return ferr
		}
		var pause []int32
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			s := w.spans[fp.Partition]
			if s == nil {
				return
			}
			for _, r := range fp.Records {
				n := next[s.partition]
				if r.Offset < n {
					continue
				}
				if n >= s.end {
					break
				}
				if r.Offset >= s.end {
					next[s.partition] = s.end
					break
				}
				if _, ok := txnFrom[s.partition]; !ok {
					txnFrom[s.partition] = n
				}
				read += r.Offset + 1 - n
				next[s.partition] = r.Offset + 1
				if r.Attrs.IsControl() || s.done.Contains(r.Offset) {
					continue
				}
				var o route.Outcome
				out, o = w.table.Route(r, out[:0])
				switch {
				case o.DLQReason != "":
					dead++
					continue
				case len(o.Matched) == 0:
					filtered++
				}
				for _, rr := range out {
					if rr.Topic == w.topic { // never the DLQ, never another topic
						sent++
						w.cl.Produce(work, rr, promise.Promise())
					}
				}
			}
			if next[s.partition] >= s.end {
				if _, ok := txnFrom[s.partition]; !ok {
					txnFrom[s.partition] = s.next
				}
				pause = append(pause, s.partition)
			}
		})
		if len(pause) > 0 {
			w.cl.PauseFetchPartitions(map[string][]int32{w.events.Topic: pause})
		}
		if !w.unfinishedWith(next) || w.ahead(began, read) > 0 {
			break // ahead of --rate: commit, and wait outside the transaction
		}
	}
	done := map[int32]state.Ranges{}
	for p, from := range txnFrom {
		s := w.spans[p]
		done[p] = s.done.Add(from, next[p])
		rec, err := state.Record(w.stateTopic, state.Key(state.KindProgress, w.sum.Connector, p), state.Progress{Topic: w.events.Topic, TopicID: w.events.ID, Done: done[p]})
		if err != nil {
			_ = w.cl.EndTransaction(work, kgo.TryAbort)
			return err
		}
		w.cl.Produce(work, rec, promise.Promise())
	}
	if err := w.cl.Flush(work); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := promise.Err(); err != nil {
		_ = w.cl.EndTransaction(work, kgo.TryAbort)
		return fmt.Errorf("produce: %w", err)
	}
	endCtx, cancel := context.WithTimeout(work, 30*time.Second)
	defer cancel()
	if err := w.cl.EndTransaction(endCtx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	for p, d := range done {
		w.spans[p].done = d
	}
	for p, n := range next {
		w.spans[p].next = n
	}
	w.read += read
	w.sum.Read += read
	w.sum.Sent += sent
	w.sum.Filtered += filtered
	w.sum.DeadLetters += dead
	w.sum.Transactions++
	return nil
}

// ahead is how far reading is ahead of --rate: the offsets read so far,
// with more not yet committed, may take no less than their count/rate
// since the run began.
func (w *worker) ahead(began time.Time, more int64) time.Duration {
	if w.rate <= 0 {
		return 0
	}
	return time.Duration(float64(w.read+more)/w.rate*float64(time.Second)) - w.now().Sub(began)
}

func (w *worker) unfinishedWith(next map[int32]int64) bool {
	for p, s := range w.spans {
		if next[p] < s.end {
			return true
		}
	}
	return false
}
