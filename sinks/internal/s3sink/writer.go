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
	conf    *config.S3
	layout  layout
	enc     *encoder
	log     *slog.Logger
	m       *metrics
	now     func() time.Time // the clock of Object Lock retention
	timeout time.Duration

	mu    sync.Mutex
	heads map[int32]chainHead
}

// chainHead is the sha256 that the delivery beginning at next links to.
type chainHead struct {
	next int64
	sha  string
}

var _ sink.Extender = (*Writer)(nil)

// New returns a Writer for the connector. It reads the credentials'
// secrets but does not contact S3: call Check for that.
func New(ctx context.Context, o Options) (*Writer, error) {
	c := o.Connector
	if c == nil || c.S3 == nil {
		return nil, errors.New("s3sink: the connector has no s3 settings")
	}
	if c.ID == "" {
		return nil, errors.New("s3sink: the connector has no id")
	}
	client, err := newClient(ctx, c.S3, o.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", c.ID, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{
		s3:      client,
		bucket:  c.S3.Bucket,
		conf:    c.S3,
		layout:  newLayout(c.S3.Prefix, c.ID),
		enc:     newEncoder(),
		log:     log.With("bucket", c.S3.Bucket),
		m:       newMetrics(o.Registerer, c.ID),
		now:     time.Now,
		timeout: callTimeout,
		heads:   make(map[int32]chainHead),
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
	head, ok := w.cachedHead(b.Partition, start)
	if !ok {
		h, done, err := w.resume(ctx, b.Partition, start, b.Last())
		if err != nil {
			return sink.Result{}, err
		}
		head = h
		if done >= start {
			items, start = itemsAfter(items, done), done+1
		}
	}
	for len(items) > 0 {
		last, next, err := w.deliver(ctx, b.Partition, start, items, head)
		if err != nil {
			return sink.Result{}, err
		}
		items, start, head = itemsAfter(items, last), last+1, next
	}
	w.setHead(b.Partition, chainHead{next: start, sha: head})
	w.m.lastWrite.Set(float64(w.now().Unix()))
	return sink.Result{Through: start - 1}, nil
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
func (w *Writer) cachedHead(partition int32, start int64) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.heads[partition]
	return h.sha, ok && h.next == start
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
