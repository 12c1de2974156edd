// Package ddintake is a test server that behaves as the Datadog Logs HTTP intake v2
// (POST /api/v2/logs) is documented to behave, with fault injection on top.
//
// Datadog cannot be reached from the machines that run Auditstream's tests, so the
// Datadog sink is tested against this server instead. A Server is an http.Handler:
// tests mount it on an httptest.Server, and cmd/ddintake serves it as a binary.
//
// # The intake
//
// The behaviour follows the "Send logs" page of the Datadog API reference and the
// OpenAPI schema that datadog-api-client-go is generated from:
//
//   - The API key comes in the DD-API-KEY header. A missing key gets 401, a key that
//     is not in the accepted set gets 403.
//   - The body may be compressed with Content-Encoding gzip or deflate (or identity).
//     A body that does not decompress gets 400.
//   - The body is a JSON array of log objects, or a single log object. Anything else
//     gets 400. The reserved attributes are message, ddsource, ddtags, hostname and
//     service; every other attribute is kept as it came. Tags passed in the ddtags
//     query parameter are added to every log of the request.
//   - Over MaxPayloadBytes uncompressed gets 413. Over MaxEntries entries also gets
//     413: the documentation names the limit but not its status code, and 413 is the
//     code it gives for a batch that is too large.
//   - A log over MaxLogBytes is accepted and truncated, as documented; the stored Log
//     says so in Truncated.
//   - A log whose timestamp is more than MaxLogAge in the past is accepted, but the
//     documentation says Datadog only takes logs up to 18 hours old, so the stored
//     Log says so in TooOld.
//   - An accepted request gets 202 with the body {}. Every error body has the shape
//     {"errors":[{"status":"400","title":"Bad Request","detail":"..."}]}.
//
// # Faults
//
// Inject adds a Fault: a status code such as 429 (with X-RateLimit-* headers), 500,
// 503 or 408; added latency; a dropped connection; or a poison substring that fails
// any request holding a matching message with 400 naming the entry indexes. A fault
// can be limited to the next N requests it hits, to a seeded fraction of requests,
// and to a window of time measured by the server's clock.
//
// # Inspection
//
// Logs, LogsSince and Stats report what the server accepted. The same data, and the
// fault and key controls, are served over HTTP for tests that run the binary:
//
//	GET    /_intake/logs?since=N&limit=M  LogsPage: logs with an ID above N
//	DELETE /_intake/logs                  drop the logs (IDs are not reused)
//	GET    /_intake/stats                 Stats
//	DELETE /_intake/stats                 zero the stats
//	GET    /_intake/faults                FaultsPage: every fault, its state and hits
//	POST   /_intake/faults                inject a fault, or an array of them
//	DELETE /_intake/faults                drop every fault
//	DELETE /_intake/faults/{id}           drop one fault
//	PUT    /_intake/api-keys              replace the keys: {"keys":["..."]}
//	POST   /_intake/reset                 drop logs, stats and faults
//	GET    /healthz                       {"status":"ok"}
//
// A fault in JSON reads, for a 30 second storm of 429s:
//
//	{"kind":"status","status":429,"for":"30s","retry_after":true}
package ddintake
