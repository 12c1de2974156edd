// Package producer is the Go SDK that applications use to publish audit
// events into Auditstream.
//
// A Producer validates each event, fills in a UUIDv7 id when it has none,
// encodes it by the record contract (see package record) and produces it to
// the audit.events topic with an idempotent, acks=all Kafka producer.
// Publish returns once the event is durably in Kafka; from then on it is not
// lost. When Publish returns an error, the event may or may not have reached
// Kafka (for instance when the context ended while the broker was
// unreachable); publish it again, and its id lets downstream deduplicate.
//
//	p, err := producer.New(producer.Options{Brokers: []string{"127.0.0.1:9092"}})
//	...
//	defer p.Close(ctx)
//	err = p.Publish(ctx, &auditv1.Event{ProjectId: "P1", Action: "UserCreated", Occurred: timestamppb.Now()})
package producer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/plugin/kslog"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// DefaultTopic is where audit events are published.
const DefaultTopic = "audit.events"

// DefaultMaxEventBytes caps one encoded event.
const DefaultMaxEventBytes = 1 << 20

// Errors a caller can test for with errors.Is. Use errors.As with
// *record.FieldError or *record.SizeError for the details.
var (
	ErrInvalid  = record.ErrInvalid
	ErrTooLarge = record.ErrTooLarge
	ErrClosed   = errors.New("producer closed")
)

// Options configure a Producer. Only Brokers is required.
type Options struct {
	Brokers []string
	// Topic defaults to DefaultTopic.
	Topic string
	// ClientID names the client in broker logs and quotas.
	ClientID string
	// Encoding of record values: record.Protobuf (default) or record.JSON.
	Encoding record.Encoding
	// MaxEventBytes caps one encoded event; 0 means DefaultMaxEventBytes.
	MaxEventBytes int
	// TLS, when set, encrypts the connection to the brokers.
	TLS *tls.Config
	// SASL, when set, authenticates: plain.Auth{...}.AsMechanism(), or
	// scram.Auth{...}.AsSha256Mechanism() / AsSha512Mechanism().
	SASL sasl.Mechanism
	// Linger is how long a batch waits for more events (default 5ms). A
	// little lingering makes larger batches and better compression.
	Linger time.Duration
	// DeliveryTimeout bounds how long an event is retried before Publish
	// fails (default 2 minutes). The context passed to Publish can end it
	// sooner.
	DeliveryTimeout time.Duration
	// Logger receives the client's warnings; nil discards them.
	Logger *slog.Logger
	// KafkaOpts are appended to the client's options, for settings the SDK
	// does not expose. They can override the SDK's own. The SDK reuses a
	// record once its promise has run, so a hook (kgo.WithHooks) must not
	// keep a record, or its key, value or headers, after it returns.
	KafkaOpts []kgo.Opt
}

// Producer publishes audit events. It is safe for concurrent use.
type Producer struct {
	client   *kgo.Client
	topic    string
	encoding record.Encoding
	maxBytes int
	// pending recycles records and their buffers (see pending).
	pending sync.Pool
}

// New connects a Producer. It does not wait for the brokers to answer: the
// first Publish does.
func New(o Options) (*Producer, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("producer: no brokers")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.Linger == 0 {
		o.Linger = 5 * time.Millisecond
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = 2 * time.Minute
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.DefaultProduceTopic(o.Topic),
		// acks=all with idempotence (franz-go's default, stated here
		// because the guarantee depends on it): a retried batch is written
		// once, and an acknowledged one survives a broker failure.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerLinger(o.Linger),
		kgo.RecordDeliveryTimeout(o.DeliveryTimeout),
		// A record larger than the broker's default message.max.bytes
		// fails on its own instead of with its whole batch.
		kgo.ProducerBatchMaxBytes(int32(max(o.MaxEventBytes+64<<10, 1<<20))),
	}
	if o.ClientID != "" {
		opts = append(opts, kgo.ClientID(o.ClientID))
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS))
	}
	if o.SASL != nil {
		opts = append(opts, kgo.SASL(o.SASL))
	}
	if o.Logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(o.Logger)))
	}
	opts = append(opts, o.KafkaOpts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	p := &Producer{client: client, topic: o.Topic, encoding: o.Encoding, maxBytes: o.MaxEventBytes}
	p.pending.New = func() any {
		pe := new(pending)
		pe.promise = func(_ *kgo.Record, err error) { p.finish(pe, err) }
		return pe
	}
	return p, nil
}

// Publish sends one event and waits until Kafka has acknowledged it on all
// in-sync replicas. An event without an id is given a UUIDv7 (written into
// ev). Validation errors match ErrInvalid or ErrTooLarge.
func (p *Producer) Publish(ctx context.Context, ev *auditv1.Event) error {
	pe, err := p.prepare(ev)
	if err != nil {
		return err
	}
	// ProduceSync returns once the record's promise has run: franz-go is
	// done with it.
	err = p.client.ProduceSync(ctx, &pe.rec).FirstErr()
	p.release(pe)
	return err
}

// PublishAsync sends one event without waiting. done is called exactly
// once, with nil when Kafka has acknowledged the event, or with the reason
// it was not published; it runs on the client's goroutine and must not
// block for long. A validation error is reported through done before
// PublishAsync returns. When many events are in flight PublishAsync blocks
// until there is room (franz-go's MaxBufferedRecords), which is the
// backpressure a fast caller needs.
func (p *Producer) PublishAsync(ctx context.Context, ev *auditv1.Event, done func(*auditv1.Event, error)) {
	pe, err := p.prepare(ev)
	if err != nil {
		done(ev, err)
		return
	}
	pe.ev, pe.done = ev, done
	p.client.Produce(ctx, &pe.rec, pe.promise)
}

// Flush waits until every event published so far is acknowledged or failed.
func (p *Producer) Flush(ctx context.Context) error {
	return p.client.Flush(ctx)
}

// Close flushes what is in flight, then closes the connections. Events
// still unacknowledged when ctx ends are failed through their callbacks.
func (p *Producer) Close(ctx context.Context) error {
	err := p.client.Flush(ctx)
	p.client.Close()
	return err
}

// Client exposes the underlying franz-go client, for health checks and
// metrics hooks. Producing through it bypasses validation.
func (p *Producer) Client() *kgo.Client { return p.client }

// pending is one event in flight: its record, the buffer that holds the
// record's key, value and header values, and the PublishAsync callback.
//
// Pendings are pooled. franz-go is done with a record once its promise has
// returned (it reads the record's size before calling the promise, for this
// reason), so the record and its buffer can serve the next event. At
// hundreds of thousands of events a second, a fresh buffer per event costs
// about as much CPU in garbage collection as encoding it does.
type pending struct {
	rec     kgo.Record
	buf     []byte
	ev      *auditv1.Event
	done    func(*auditv1.Event, error)
	promise func(*kgo.Record, error) // calls finish with this pending; made once
}

// Pendings whose buffers grew beyond these are not pooled, so that one
// large event does not pin a large buffer.
const (
	maxPooledBytes   = 64 << 10
	maxPooledHeaders = 16
)

// prepare validates and encodes an event into a pending from the pool.
func (p *Producer) prepare(ev *auditv1.Event) (*pending, error) {
	if err := record.Validate(ev); err != nil {
		return nil, err
	}
	if ev.GetId() == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("generate event id: %w", err)
		}
		ev.Id = id.String()
	}
	pe := p.pending.Get().(*pending)
	buf, err := record.MarshalInto(&pe.rec, pe.buf, ev, p.encoding)
	pe.buf = buf
	if err == nil {
		err = record.CheckSize(len(pe.rec.Value), p.maxBytes)
	}
	if err != nil {
		p.release(pe)
		return nil, err
	}
	pe.rec.Topic = p.topic
	return pe, nil
}

// finish is a pending's promise: it recycles the pending, then reports.
func (p *Producer) finish(pe *pending, err error) {
	ev, done := pe.ev, pe.done
	p.release(pe)
	done(ev, err)
}

// release returns a pending to the pool, emptied of everything but its
// buffer and header slice.
func (p *Producer) release(pe *pending) {
	hs := pe.rec.Headers
	clear(hs)
	if cap(hs) > maxPooledHeaders {
		hs = nil
	}
	pe.rec = kgo.Record{Headers: hs[:0]}
	pe.ev, pe.done = nil, nil
	if cap(pe.buf) > maxPooledBytes {
		pe.buf = nil
	}
	p.pending.Put(pe)
}
