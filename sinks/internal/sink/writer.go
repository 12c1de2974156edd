// Package sink is the runtime every sink shares: it consumes one
// connector's topic in the connector's consumer group, batches each
// partition's records, hands the batches to a destination Writer, and
// commits a partition's offset only after the Writer has made the batch
// durable. See Runner for the guarantees.
//
// The runtime has two sides per partition. Intake (intake.go) is the queue
// between the poll loop and the partition, with the pausing and resuming of
// its fetches; the poll loop owns it. Delivery (worker.go) turns queued
// records into batches, writes them, dead-letters what cannot be delivered
// and commits; one worker goroutine owns it. A worker is given what it uses
// (workerDeps) and never reaches back into the Runner.
package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// Writer delivers batches to a destination. The S3 and Datadog packages
// implement it.
//
// Write blocks until every event of the batch is durably delivered, or
// fails. It is called for one partition at a time, in offset order: the
// next batch of a partition is written only after the previous one
// succeeded. Different partitions are written concurrently.
//
// On success, Result.Through is the offset through which the partition is
// now delivered, at least b.Last(). The runtime skips any record up to
// Through that it reads later instead of delivering it twice.
//
// On failure the runtime retries the same batch, forever, with backoff;
// nothing is committed meanwhile. An error wrapping *RetryAfterError sets
// the wait; one wrapping *UnauthorizedError is retried at the slowest pace
// and logged as an operator's problem.
type Writer interface {
	Write(ctx context.Context, b *batch.Batch) (Result, error)
}

// Extender is an optional capability of a Writer, found by a type
// assertion: its destination may hold a delivery that an earlier writer of
// the partition began at the batch's first record and that runs past the
// batch (the S3 writer's adoption). Such a delivery is fixed; the batch
// must grow to its end before it can be written. A Writer without this
// capability never has a batch held back.
type Extender interface {
	Writer
	// ExtendTo reports whether err, returned by Write, asks for the batch
	// to run through offset through before it is written again.
	ExtendTo(err error) (through int64, ok bool)
}

// Result is a successful delivery.
type Result struct {
	// Through is the last offset delivered, at least the batch's last.
	Through int64
	// Rejected are events the destination refused for good (a Datadog 400
	// on that entry alone, an event over the size limit). The runtime sends
	// them to the dead-letter topic before it commits.
	Rejected []Rejected
}

// Rejected is one event the destination will never accept.
type Rejected struct {
	Offset int64
	Reason string // a short, stable code, the dlq-reason header
	Err    error  // the detail, the dlq-error header
}

// RetryAfterError asks for a retry after Wait, as the destination said
// (Retry-After, X-RateLimit-Reset).
type RetryAfterError struct {
	Wait time.Duration
	Err  error
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("%v (retry in %v)", e.Err, e.Wait) }

func (e *RetryAfterError) Unwrap() error { return e.Err }

// NeedMoreError is the error an Extender's Write may return: the batch must
// run through offset Through before it can be written, because the
// destination holds a delivery, begun by an earlier owner of the
// partition, that ends there.
type NeedMoreError struct {
	Through int64
}

func (e *NeedMoreError) Error() string {
	return fmt.Sprintf("destination holds a delivery through offset %d; the batch must grow to it", e.Through)
}

// UnauthorizedError marks an error that only an operator can fix (a revoked
// key, a missing permission). The runtime keeps retrying at a slow pace,
// marks the sink not ready and logs loudly, without committing or dropping.
type UnauthorizedError struct{ Err error }

func (e *UnauthorizedError) Error() string { return "unauthorized: " + e.Err.Error() }

func (e *UnauthorizedError) Unwrap() error { return e.Err }

// IsUnauthorized reports whether err is an UnauthorizedError.
func IsUnauthorized(err error) bool {
	var ue *UnauthorizedError
	return errors.As(err, &ue)
}
