package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// event is what the check knows of one published event.
type event struct {
	id   string
	meta record.Meta
	// hour is the UTC hour of occurred: the S3 layout's date directories.
	hour time.Time
}

// readPublished reads the NDJSON (protojson) events a run published, one per
// line, as `producer generate --stdout` writes them. A line that does not
// decode, or an id seen twice, is an error: the check would count wrong.
func readPublished(r io.Reader) ([]event, error) {
	var evs []event
	seen := make(map[string]bool)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := protojson.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		id := ev.GetId()
		if id == "" {
			return nil, fmt.Errorf("line %d: event without an id", n)
		}
		if seen[id] {
			return nil, fmt.Errorf("line %d: id %s published twice", n, id)
		}
		seen[id] = true
		evs = append(evs, event{id: id, meta: record.MetaOf(&ev), hour: ev.GetOccurred().AsTime().UTC().Truncate(time.Hour)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return evs, nil
}
