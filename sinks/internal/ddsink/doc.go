// Package ddsink delivers a connector's audit events to Datadog Logs, through
// the HTTP intake v2 (datadog-api-client-go's request for LogsApi.SubmitLog,
// gzip).
//
// # Mapping
//
// Each event becomes one log: the message is the event's protojson without
// the random spaces protojson inserts, as the S3 archive writes its lines
// (written by hand, see message.go); ddsource, service and hostname come from
// the connector; ddtags are project:, tenant: (one per tenant), action: and
// type: (info when empty), then the connector's tags; the log's timestamp is
// the event's occurred time, in milliseconds since the epoch, in the
// timestamp attribute that Datadog reads by default. An event older than the
// 18 hours Datadog keeps is still sent, and counted.
//
// # Limits
//
// A batch is cut into requests of at most 1000 logs and 5,000,000 bytes of
// JSON, measured as the client encodes it: counted exactly from the message,
// the tags and the escaping rules of the client's JSON encoder, without
// encoding the log twice. A log over 1,000,000 bytes is never sent, since the intake would
// truncate it: it comes back in Result.Rejected as "too_large" for the
// dead-letter topic.
//
// # Compression
//
// Requests are gzip-compressed (at the connector's compression_level,
// default 6), as the client would compress them, but with klauspost/compress rather than the client's standard
// library gzip, which costs about three times as much CPU: the client is
// asked for no content encoding, and the Writer's HTTP transport
// compresses the body and sets Content-Encoding: gzip.
//
// # JSON
//
// The request body is written by hand (body.go), the same bytes the
// client's SubmitLog would send for the same logs as HTTPLogItem, in a
// seventh of the client's encoding time (BenchmarkBody); the request is
// still the client's (URL, headers, authentication). TestBodyIsTheClients
// compares the two encodings, so a change in the client's model fails it.
// The escaping follows the client's encoder: goccy/go-json when built with
// the goccy_gojson tag (make and the Dockerfile), encoding/json otherwise,
// which differ only in \b and \f.
//
// # Answers
//
// A 2xx delivers the request. A 400 or a 413 splits the request in halves
// until the failing logs stand alone. A lone log answered 400 is rejected
// ("rejected_by_intake", with the intake's answer). Ten logs in a row
// refused alone with 400, and none accepted in between, mean the intake
// (or a proxy before it) refuses requests, not logs: those rejections are
// withdrawn and the Write fails, to be retried, rather than empty the
// stream into the dead-letter topic. A lone log answered 413 is never
// dead-lettered: Datadog answers 413 only to a request over 5 MB or 1000
// logs (a log over 1 MB it truncates), and a lone log here is at most 1 MB,
// so the 413 comes from a proxy with a smaller body limit, or one that
// refuses everything; the Write fails, and is retried, with the sink not
// ready, until the path takes the log. A 401 or 403 is a
// *sink.UnauthorizedError. Any other answer, or no answer, fails the Write
// for the runtime to retry.
//
// A failure whose answer has a Retry-After (seconds or an HTTP date) or an
// X-RateLimit-Reset (seconds) header is a *sink.RetryAfterError: the
// runtime waits the longer of the two, but never more than the connector's
// max_retry_wait (default 5 minutes), and a longer wait asked is logged.
// A header that is not a count of seconds or a date (a negative, a
// fraction, garbage) is ignored; a count too large for a Duration is
// capped, not wrapped.
//
// # Retries
//
// The runtime retries a failed batch as a whole. The Writer remembers, per
// partition, which offsets of the batch in flight the intake already
// accepted or rejected for good, and skips them when the same batch (the
// same partition and first offset) comes again. A batch that succeeds, or a
// different batch of the partition, drops that memory, so it holds at most
// one batch per partition. The memory lives in the process: after a restart
// or a rebalance to another replica, a retried batch is sent whole, which is
// the at-least-once the design promises.
//
// # Endpoint
//
// A named site (datadoghq.com, datadoghq.eu, us3, us5, ap1, ddog-gov.com)
// selects https://http-intake.logs.<site>. A custom URL (tests, proxies) is
// a base URL, http or https, host and optional port and path prefix: the
// logs go to <url>/api/v2/logs.
package ddsink
