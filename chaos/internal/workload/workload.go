// Package workload makes a chaos run's input and keeps its ledger: every
// event id sent, with what its value says (project, action, tenants), and
// every bad record sent, with the dead-letter reason it must get.
//
// Good events come from the producer CLI (generate --stdout) and are sent in
// chunks by four clients in turn: the producer CLI (protobuf, then JSON
// values) and kcat (JSON with the contract headers, then JSON without them).
// Bad records are sent by kcat, keyed chaos-bad-N so that the dead-letter
// topic can be matched against the ledger.
package workload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/proto/record"
)

// Method is how a chunk of good events is published.
type Method string

// The methods, used in turn.
const (
	ProducerProtobuf Method = "producer-protobuf"
	ProducerJSON     Method = "producer-json"
	KcatHeaders      Method = "kcat-headers"
	KcatBare         Method = "kcat-bare"
)

var methods = []Method{ProducerProtobuf, KcatHeaders, ProducerJSON, KcatBare}

// Event is a good event of the ledger.
type Event struct {
	ID   string
	Meta record.Meta
	line []byte // its NDJSON line, as the producer CLI generated it
}

// Bad is a bad record of the ledger.
type Bad struct {
	Key    string `json:"key"`
	Kind   string `json:"kind"`   // malformed-json, malformed-protobuf, oversize, forged
	Reason string `json:"reason"` // the dlq-reason it must get
	// ID is the id in its value, when it has one: it must reach no
	// destination.
	ID string `json:"id,omitempty"`
}

// Chunk is a part of the input, published at once by one method.
type Chunk struct {
	Method Method
	Events []Event
	Bad    []badRecord
}

type badRecord struct {
	Bad
	value   []byte
	headers []string // kcat -H arguments, key=value
}

// Workload is the whole input of a run.
type Workload struct {
	Events []Event
	Bad    []Bad
	Chunks []Chunk
}

// Options shape a workload.
type Options struct {
	Producer string // the producer CLI
	Seed     uint64
	Events   int
	Chunks   int
	// BadPerChunk is how many records of each bad kind go into each chunk.
	BadPerChunk int
	// OversizeBytes is the size of an oversize record's value: above the
	// router's max_event_bytes (1 MiB by default). It is sent gzip-compressed,
	// which the events topic accepts.
	OversizeBytes int
	Dir           string // where the chunk files are written
}

// Make generates the events with the producer CLI and cuts them into chunks,
// each with its bad records.
func Make(ctx context.Context, o Options) (*Workload, error) {
	path := filepath.Join(o.Dir, "events.ndjson")
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	cmd := exec.CommandContext(ctx, o.Producer, "generate", "--stdout", "--quiet",
		"--count", fmt.Sprint(o.Events), "--seed", fmt.Sprint(o.Seed), "--tenants", "40")
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("producer generate: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read generated events: %w", err)
	}
	w := &Workload{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := protojson.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("generated line %d: %w", len(w.Events)+1, err)
		}
		if seen[ev.GetId()] {
			return nil, fmt.Errorf("generated id %s twice", ev.GetId())
		}
		seen[ev.GetId()] = true
		// The scanner reuses its buffer: keep a copy of the line.
		w.Events = append(w.Events, Event{ID: ev.GetId(), Meta: record.MetaOf(&ev), line: bytes.Clone(line)})
	}
	if len(w.Events) != o.Events {
		return nil, fmt.Errorf("producer generate wrote %d events, want %d", len(w.Events), o.Events)
	}
	per := (len(w.Events) + o.Chunks - 1) / o.Chunks
	n := 0
	for i := 0; i < o.Chunks; i++ {
		lo, hi := min(i*per, len(w.Events)), min((i+1)*per, len(w.Events))
		c := Chunk{Method: methods[i%len(methods)], Events: w.Events[lo:hi]}
		for range o.BadPerChunk {
			for _, kind := range badKinds {
				n++
				br := kind(n, o.OversizeBytes)
				c.Bad = append(c.Bad, br)
				w.Bad = append(w.Bad, br.Bad)
			}
		}
		w.Chunks = append(w.Chunks, c)
	}
	return w, nil
}

// badKinds make the bad records: one of each per round.
var badKinds = []func(n, oversize int) badRecord{
	func(n, _ int) badRecord { // cut short; half of them say they are JSON
		r := badRecord{Bad: Bad{Key: badKey(n), Kind: "malformed-json", Reason: record.ReasonMalformedJSON},
			value: fmt.Appendf(nil, `{"id":"malformed-%d","projectId":"P001","action":`, n)}
		if n%2 == 0 {
			r.headers = []string{"content-type=" + record.ContentTypeJSON}
		}
		return r
	},
	func(n, _ int) badRecord { // field 2, length-delimited, with a length far past the end
		// (not field 1: its tag is 0x0a, a newline, which would split
		// kcat's line).
		return badRecord{Bad: Bad{Key: badKey(n), Kind: "malformed-protobuf", Reason: record.ReasonMalformedProtobuf},
			value:   []byte("\x12\xff\xff\xff\xff\x0fchaos"),
			headers: []string{"content-type=" + record.ContentTypeProtobuf}}
	},
	func(n, oversize int) badRecord { // a valid event, too large
		id := fmt.Sprintf("oversize-%d", n)
		v := fmt.Appendf(nil, `{"id":%q,"projectId":"P001","action":"LoginSucceed","type":"info","tenants":["T0001"],"occurred":"2026-01-01T00:00:00Z","data":{"blob":%q}}`,
			id, strings.Repeat("x", oversize))
		return badRecord{Bad: Bad{Key: badKey(n), Kind: "oversize", Reason: record.ReasonTooLarge, ID: id},
			value: v, headers: []string{"content-type=" + record.ContentTypeJSON}}
	},
	func(n, _ int) badRecord { // a valid event whose headers claim another action
		id := fmt.Sprintf("forged-%d", n)
		v := fmt.Appendf(nil, `{"id":%q,"projectId":"P001","action":"UserDeleted","type":"warn","tenants":["T0001"],"occurred":"2026-01-01T00:00:00Z"}`, id)
		return badRecord{Bad: Bad{Key: badKey(n), Kind: "forged", Reason: record.ReasonHeaderMismatch, ID: id},
			value: v, headers: []string{"content-type=" + record.ContentTypeJSON, "project=P001", "action=LoginSucceed", "tenant=T0001"}}
	},
}

func badKey(n int) string { return fmt.Sprintf("chaos-bad-%06d", n) }
