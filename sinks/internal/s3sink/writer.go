package s3sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/batch"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// Options configure a Writer.
type Options struct {
	// Connector is the connector to deliver for: its ID names the objects,
	// and its S3 block (required) says where and how.
	Connector *config.Connector
	// Log is the caller's logger, which names the connector.
	Log *slog.Logger
	// Registerer receives the writer's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// HTTPClient, when set, carries the S3 requests (tests).
	HTTPClient *http.Client
	// Topic is the connector topic, and Identity its topic and cluster
	// IDs (LearnIdentity): every object and manifest records them, and
	// the writer never skips or adopts across another identity. An empty
	// Identity writes objects without one, as before identities were
	// recorded (tests).
	Topic    string
	Identity Identity
	// CurrentIdentity, when set, asks Kafka for the topic's identity
	// again whenever a batch starts where this writer did not leave the
	// partition (an assignment, a reset): a topic deleted and created
	// again while the sink runs then stops the partition instead of
	// being taken for the archived one.
	CurrentIdentity func(context.Context) (Identity, error)
	// Heads, when set, records each partition's head after each delivery
	// (and before Write returns), and tells replays from new deliveries.
	Heads HeadStore
}

// callTimeout bounds each S3 call, SDK retries included, so that a store
// that stops answering fails the batch (and the runtime retries it)
// instead of hanging the partition.
const callTimeout = 60 * time.Second

// Writer writes a connector's batches to S3 as exactly-once objects (see
// the package documentation). It implements sink.Writer. Different
// partitions may be written concurrently; one partition's batches must
// come one at a time, in order.
type Writer struct {
	s3      *s3.Client
	bucket  string
	conf    *Config
	layout  layout
	enc     *encoder
	log     *slog.Logger
	m       *metrics
	now     func() time.Time // the clock of Object Lock retention
	timeout time.Duration

	topic    string
	identity Identity
	current  func(context.Context) (Identity, error)
	store    HeadStore

	mu    sync.Mutex
	heads map[int32]chainHead
	// recorded is the head each partition has in the HeadStore, as this
	// writer last read or recorded it; loaded again whenever a batch
	// starts where this writer did not leave the partition.
	recorded map[int32]Head
}

// chainHead is the link that the delivery beginning at next links to.
type chainHead struct {
	next int64
	link link
}

var _ sink.Extender = (*Writer)(nil)

// New returns a Writer for the connector. It reads the credentials'
// secrets but does not contact S3: call Check for that.
func New(ctx context.Context, o Options) (*Writer, error) {
	c := o.Connector
	s, ok := ConfigOf(c)
	if !ok {
		return nil, errors.New("s3sink: the connector has no s3 settings")
	}
	if c.ID == "" {
		return nil, errors.New("s3sink: the connector has no id")
	}
	client, err := newClient(ctx, s, o.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", c.ID, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{
		s3:      client,
		bucket:  s.Bucket,
		conf:    s,
		layout:  newLayout(s.Prefix, c.ID),
		enc:     newEncoder(),
		log:     log.With("bucket", s.Bucket),
		m:       newMetrics(o.Registerer, c.ID),
		now:     time.Now,
		timeout: callTimeout,
		heads:   make(map[int32]chainHead),

		topic:    o.Topic,
		identity: o.Identity,
		current:  o.CurrentIdentity,
		store:    o.Heads,
		recorded: make(map[int32]Head),
	}, nil
}

// Write delivers the batch: every record ends up in exactly one object,
// whether this writer writes it or finds it written by an earlier owner of
// the partition. Through is b.Last(). A *sink.NeedMoreError asks for a
// longer batch; a *sink.UnauthorizedError is a credentials or permission
// problem (or a missing bucket); other errors are transient.
func (w *Writer) Write(ctx context.Context, b *batch.Batch) (sink.Result, error) {
	if b.Len() == 0 {
		return sink.Result{Through: b.Start - 1}, nil
	}
	start, items := b.Start, b.Items
	head, known := w.cachedHead(b.Partition, start)
	if !known {
		// A position this writer did not reach itself: a new owner, a
		// rebalance, a reset or a replay. The head outside the bucket may
		// have moved on meanwhile, and the topic may have been created
		// again.
		if err := w.checkCurrentIdentity(ctx); err != nil {
			return sink.Result{}, err
		}
		if err := w.loadHead(ctx, b.Partition); err != nil {
			return sink.Result{}, err
		}
	}
	wrote := false // the delivery that ends the batch is this writer's, not one found
	for len(items) > 0 {
		if !known || w.behindHead(b.Partition, items[0].Offset) {
			h, done, err := w.resume(ctx, b.Partition, start, items)
			if err != nil {
				return sink.Result{}, err
			}
			head, known = h, true
			if done >= start {
				items, start, wrote = itemsAfter(items, done), done+1, false
				continue
			}
		}
		last, next, err := w.deliver(ctx, b.Partition, start, items, head)
		if err != nil {
			return sink.Result{}, err
		}
		items, start, head, wrote = itemsAfter(items, last), last+1, next, true
	}
	if err := w.recordHead(ctx, b.Partition, start-1, head, wrote); err != nil {
		return sink.Result{}, err
	}
	w.setHead(b.Partition, chainHead{next: start, link: head})
	w.m.lastWrite.Set(float64(w.now().Unix()))
	return sink.Result{Through: start - 1}, nil
}

// checkCurrentIdentity fails when the topic's identity is no longer the
// one the writer started with.
func (w *Writer) checkCurrentIdentity(ctx context.Context) error {
	if w.current == nil {
		return nil
	}
	id, err := w.current(ctx)
	if err != nil {
		return fmt.Errorf("check the identity of topic %s: %w", w.topic, err)
	}
	if id != w.identity {
		return &sink.UnauthorizedError{Err: fmt.Errorf("topic %s is now %s, but this sink started with %s and archives it "+
			"under that identity: the topic was deleted and created again (or the cluster changed) while the sink ran. "+
			"Nothing was written or committed for it. Stop the sink and give the new topic its own s3.prefix (or a new "+
			"connector id); see the README, \"A new topic under an old archive\"", w.topic, id, w.identity)}
	}
	return nil
}

// loadHead reads the partition's head from the HeadStore.
func (w *Writer) loadHead(ctx context.Context, partition int32) error {
	if w.store == nil {
		return nil
	}
	h, ok, err := w.store.Load(ctx, w.layout.connector, partition)
	if err != nil {
		return fmt.Errorf("load the head of partition %d: %w", partition, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		delete(w.recorded, partition)
		return nil
	}
	if h.Identity != w.identity {
		// Another generation's head under the same key (the connector id
		// archived another topic before; the bucket's identity claim keeps
		// the two archives apart): this one has no head yet.
		w.log.Warn("the recorded head of the partition belongs to another topic identity; ignored",
			"partition", partition, "head_topic_id", h.TopicID, "head_cluster_id", h.ClusterID, "head_last", h.Last)
		delete(w.recorded, partition)
		return nil
	}
	w.recorded[partition] = h
	return nil
}

// behindHead reports whether offset was delivered already, by the head
// this writer knows: the batch is a replay.
func (w *Writer) behindHead(partition int32, offset int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.recorded[partition]
	return ok && offset <= h.Last
}

// recordHead records that the partition is delivered through last, whose
// object's sha256 and chain value are head's, unless the recorded head is there or beyond
// already (a replay never rewinds it). It returns only once the HeadStore
// has it, so that the runtime's commit never runs ahead of the head.
// Exception: when this writer wrote the delivery that ends at the head's
// offset (wrote) and its last object's sha256 or chain value differs, the
// head is recorded again at the same offset. That is a replay of a deleted
// tail with other batch boundaries: the objects are new, and the head must
// name what the next delivery links to. A delivery found in the bucket
// never moves the head sideways, or a rewritten tail would become the head.
func (w *Writer) recordHead(ctx context.Context, partition int32, last int64, head link, wrote bool) error {
	if w.store == nil {
		return nil
	}
	w.mu.Lock()
	h, ok := w.recorded[partition]
	w.mu.Unlock()
	if ok && (h.Last > last || h.Last == last && (!wrote || h.SHA256 == head.sha256 && h.Chain == head.chain)) {
		return nil
	}
	h = Head{Connector: w.layout.connector, Partition: partition, Identity: w.identity, Last: last, SHA256: head.sha256,
		Chain: head.chain, Manifest: w.layout.manifestKey(partition, last+1)}
	if err := w.store.Record(ctx, h); err != nil {
		return err
	}
	w.mu.Lock()
	w.recorded[partition] = h
	w.mu.Unlock()
	return nil
}

// itemsAfter returns the items at offsets after last.
func itemsAfter(items []batch.Item, last int64) []batch.Item {
	n := 0
	for n < len(items) && items[n].Offset <= last {
		n++
	}
	return items[n:]
}

// cachedHead returns the chain head this writer left at start, if it did.
func (w *Writer) cachedHead(partition int32, start int64) (link, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.heads[partition]
	return h.link, ok && h.next == start
}

func (w *Writer) setHead(partition int32, h chainHead) {
	w.mu.Lock()
	w.heads[partition] = h
	w.mu.Unlock()
}

// ExtendTo implements sink.Extender: Write fails with *sink.NeedMoreError
// when an earlier writer's delivery begins at the batch's first record and
// runs past the batch (see the package documentation, step 2).
func (w *Writer) ExtendTo(err error) (through int64, ok bool) {
	if more, ok := errors.AsType[*sink.NeedMoreError](err); ok {
		return more.Through, true
	}
	return 0, false
}
