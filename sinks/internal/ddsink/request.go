package ddsink

import (
	"encoding/json"
	"fmt"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"

	"github.com/auditstream/auditstream/config"
)

// The intake's documented bounds. The documentation writes 5MB and 1MB;
// Datadog's own shippers read them as decimal, and so does this package.
const (
	maxEntries      = config.DatadogMaxEntries // logs in one request
	maxPayloadBytes = config.DatadogMaxBytes   // uncompressed JSON in one request
	maxLogBytes     = 1_000_000                // JSON in one log; the intake truncates above
)

// limits bound the requests a Writer sends. They are the intake's, except
// in tests.
type limits struct {
	entries      int
	payloadBytes int
	logBytes     int
}

// entry is one log ready to send, with the offset of its record.
type entry struct {
	offset int64
	item   datadogV2.HTTPLogItem
	size   int  // the bytes of its JSON, as the client encodes it
	old    bool // older than Datadog keeps
}

// logSize returns the bytes the client will send for item. The client
// encodes the request body with the datadog package's JSON encoder, whose
// output for each item is what HTTPLogItem.MarshalJSON returns; json.Marshal
// gives the same bytes.
func logSize(item datadogV2.HTTPLogItem) (int, error) {
	b, err := json.Marshal(item)
	if err != nil {
		return 0, fmt.Errorf("encode log: %w", err)
	}
	return len(b), nil
}

// payloadSize returns the bytes of a request body holding n logs whose
// JSON sums to logBytes: the brackets, the commas and the encoder's
// trailing newline.
func payloadSize(n, logBytes int) int {
	if n == 0 {
		return 3 // "[]\n"
	}
	return logBytes + (n - 1) + 3
}

// requests cuts entries, in order, into requests within l. An entry that
// does not fit a request of its own (which logBytes well below payloadBytes
// rules out) goes alone.
func requests(entries []entry, l limits) [][]entry {
	var out [][]entry
	start, bytes := 0, 0
	for i, e := range entries {
		n := i - start
		if n > 0 && (n >= l.entries || payloadSize(n+1, bytes+e.size) > l.payloadBytes) {
			out = append(out, entries[start:i:i])
			start, bytes = i, 0
		}
		bytes += e.size
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// items returns the logs of entries, for the client.
func items(entries []entry) []datadogV2.HTTPLogItem {
	out := make([]datadogV2.HTTPLogItem, len(entries))
	for i, e := range entries {
		out[i] = e.item
	}
	return out
}
