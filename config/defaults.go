package config

import "time"

// Defaults for everything the file may leave out.
const (
	DefaultEventsTopic     = "audit.events"
	DefaultDLQTopic        = "audit.dlq"
	DefaultStateTopic      = "audit.router.state"
	DefaultConnectorPrefix = "audit.connector."
	DefaultHeadsTopic      = "audit.heads"
	DefaultRouterGroup     = "auditstream-router"
	// DefaultCommitInterval is the router's transaction length. A
	// transaction costs a few round trips (AddPartitionsToTxn, the offset
	// commit, EndTxn and its markers) whatever its size; at 500 ms that is
	// well under 1% of the interval on a local broker, while read_committed
	// consumers wait at most half a second more.
	DefaultCommitInterval = 500 * time.Millisecond
	// RouterTransactionTimeout is the transaction timeout of the router's
	// producers (and backfill's). A replica killed mid-transaction holds
	// back read_committed readers until it passes, so it is short; Kafka's
	// coordinator aborts a transaction that lasts longer.
	RouterTransactionTimeout = 10 * time.Second
	// MaxCommitInterval leaves a transaction half the timeout for its
	// flush and EndTxn: an interval near the timeout would have every
	// transaction aborted, and routing would never commit.
	MaxCommitInterval    = RouterTransactionTimeout / 2
	DefaultMaxEventBytes = 1 << 20
	// DefaultRouterListen and DefaultSinkListen are the admin addresses
	// of a service whose listen is unset. A replica that finds its
	// default port taken uses a free port of the same host instead.
	DefaultRouterListen = "127.0.0.1:9464"
	DefaultSinkListen   = "127.0.0.1:9465"
)

// RecordHeadroom is the room Kafka limits leave for what a record carries
// besides its value: key, headers (dead-letter headers included) and batch
// framing.
const RecordHeadroom = 128 << 10

// SourceRecordBytes is the largest record batch the events topic takes (its
// max.message.bytes): an event at MaxEventBytes with its key, headers and
// framing. Anything larger is refused to its producer, which is told.
func (p *Pipeline) SourceRecordBytes() int32 {
	return int32(p.Router.MaxEventBytes) + RecordHeadroom
}

// RecordBytes is the largest record batch the pipeline's own producers (the
// router and the sinks) write, and what the connector and dead-letter topics
// take: anything from the events topic plus the dead-letter headers. Kafka's
// own defaults (about 1 MB) are below an event at the 1 MiB cap with its
// headers, which would stall a partition on its first such event.
func (p *Pipeline) RecordBytes() int32 {
	return p.SourceRecordBytes() + RecordHeadroom
}

func (p *Pipeline) applyDefaults() {
	if p.Kafka.ClientID == "" {
		p.Kafka.ClientID = "auditstream"
	}
	t := &p.Topics
	defaultTopic(&t.Events, DefaultEventsTopic, 6, 7*24*time.Hour)
	defaultTopic(&t.DLQ, DefaultDLQTopic, 3, 30*24*time.Hour)
	defaultTopic(&t.Connector, "", 6, 7*24*time.Hour)
	defaultTopic(&t.Heads, DefaultHeadsTopic, 1, 0)
	defaultTopic(&t.State, DefaultStateTopic, 1, 0)
	if t.ConnectorPrefix == "" {
		t.ConnectorPrefix = DefaultConnectorPrefix
	}
	r := &p.Router
	if r.Group == "" {
		r.Group = DefaultRouterGroup
	}
	if r.CommitInterval == 0 {
		r.CommitInterval = Duration(DefaultCommitInterval)
	}
	if r.MaxEventBytes == 0 {
		r.MaxEventBytes = DefaultMaxEventBytes
	}
	// r.Listen stays unset: an unset address may fall back to a free
	// port (admin.Options.Default), a configured one may not.
	// Connectors are defaulted as they are checked, after their
	// destination's defaults (validator.connector).
}

func defaultTopic(t *Topic, name string, partitions int32, retention time.Duration) {
	if t.Name == "" {
		t.Name = name
	}
	if t.Partitions == 0 {
		t.Partitions = partitions
	}
	if t.Retention == 0 {
		t.Retention = Duration(retention)
	}
}

// DefaultBufferBytes is a sink's default memory bound (Batch.BufferBytes).
// It holds a full S3 batch (max_events) of events of up to ~690 bytes for
// each of six partitions: below that, a draining sink writes short batches.
// More would drain faster but take the sink past 256 MiB of RSS.
const DefaultBufferBytes = 40 << 20

// applyDefaults sets the batch limits the file and the destination left
// unset.
func (c *Connector) applyDefaults() {
	b := &c.Batch
	setDefault(&b.BufferBytes, DefaultBufferBytes)
	setDefault(&b.MaxEvents, 10_000)
	setDefault(&b.MaxBytes, 16<<20)
	setDefault(&b.MaxAge, Duration(10*time.Second))
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
