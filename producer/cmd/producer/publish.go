package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/auditstream/auditstream/producer"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

const publishUsage = `Usage: producer publish [flags] [FILE|-]

Publishes NDJSON audit events (protojson: one JSON object per line, with the
fields id, projectId, action, type, tenants, occurred, ...) read from FILE,
or from standard input when FILE is - or absent. Blank lines are skipped.

A line that is not valid JSON, not a valid event, or that has a field the
schema does not know ("tenant" for "tenants"), is reported on stderr with
its line number and reason, and nothing from it is published; the good lines
are published. --allow-unknown-fields publishes lines with unknown fields,
without those fields. A summary (published, rejected, failed, elapsed) ends
the run, on stderr, or as JSON on stdout with --json.

Before reading its input, publish checks that Kafka answers (when no broker
does within --connect-timeout it stops, names them, and exits 4) and that
the topic exists (exit 2 when it does not: 'router setup' creates it).

` + exitCodes + `
Flags:
`

// lineError is one input line that was not published.
type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// summary is the result of a publish or generate run.
type summary struct {
	Published int64       `json:"published"`
	Rejected  int64       `json:"rejected"`
	Failed    int64       `json:"failed"`
	Elapsed   float64     `json:"elapsed_seconds"`
	Rate      float64     `json:"events_per_second"`
	Errors    []lineError `json:"errors,omitempty"`
}

func publish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, publishUsage); fs.PrintDefaults() }
	var kf kafkaFlags
	kf.register(fs)
	asJSON := fs.Bool("json", false, "print the summary and the line errors as JSON on stdout")
	quiet := fs.Bool("quiet", false, "no progress lines")
	allowUnknown := fs.Bool("allow-unknown-fields", false, "publish lines that have fields the schema does not know, without those fields (default: reject such lines)")
	if err := parse(fs, args); err != nil {
		return exitUsage, err
	}
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return exitUsage, usageError{err: err}
		}
		defer f.Close()
		in = f
	}
	p, opts, err := kf.connect(ctx, stderr)
	if err != nil {
		return exitFailed, err
	}

	ls := &lineSink{p: p, allowUnknown: *allowUnknown, quiet: *asJSON, stderr: stderr, prog: startProgress(stderr, *quiet, "published")}
	start := time.Now()
	r := bufio.NewReaderSize(in, 64<<10)
	// A JSON line may be several times its protobuf size; the encoded size
	// is checked against the limit after parsing.
	maxLine := 4 * max(opts.MaxEventBytes, producer.DefaultMaxEventBytes)
	for n := 1; ctx.Err() == nil; n++ {
		line, tooLong, err := readLine(r, maxLine)
		if err != nil && !errors.Is(err, io.EOF) {
			ls.reject(n, fmt.Sprintf("read: %v", err))
			break
		}
		switch {
		case tooLong:
			ls.reject(n, fmt.Sprintf("line longer than %d bytes", maxLine))
		case len(bytes.TrimSpace(line)) > 0:
			ls.publish(ctx, n, line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := p.Close(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "flush: %v\n", err)
	}
	ls.prog.stop()
	sum := &ls.sum
	sum.Elapsed = time.Since(start).Seconds()
	if sum.Elapsed > 0 {
		sum.Rate = float64(sum.Published) / sum.Elapsed
	}
	printSummary(stdout, stderr, sum, *asJSON)
	switch {
	case sum.Failed > 0 || ctx.Err() != nil:
		return exitFailed, nil
	case sum.Rejected > 0:
		return exitRejected, nil
	}
	return exitOK, nil
}

// lineSink publishes parsed lines and keeps the tally. Its callbacks run on
// the Kafka client's goroutines, hence the mutex.
type lineSink struct {
	p            *producer.Producer
	allowUnknown bool // publish lines with unknown fields, without them
	quiet        bool // line errors go to the JSON summary only
	stderr       io.Writer
	prog         *progress

	mu  sync.Mutex
	sum summary
}

// publish parses one line and publishes it asynchronously.
func (s *lineSink) publish(ctx context.Context, n int, line []byte) {
	ev, err := decodeLine(line, s.allowUnknown)
	if err != nil {
		s.reject(n, err.Error())
		return
	}
	s.p.PublishAsync(ctx, ev, func(ev *auditv1.Event, err error) {
		switch {
		case err == nil:
			s.mu.Lock()
			s.sum.Published++
			s.mu.Unlock()
			s.prog.add(1)
		case errors.Is(err, producer.ErrInvalid) || errors.Is(err, producer.ErrTooLarge):
			s.reject(n, err.Error())
		default:
			s.fail(n, fmt.Sprintf("publish event %s: %v", ev.GetId(), err))
		}
	})
}

// reject records a bad input line.
func (s *lineSink) reject(n int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Rejected++
	s.note(n, reason)
}

// fail records a good line that Kafka did not accept.
func (s *lineSink) fail(n int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Failed++
	s.note(n, reason)
}

func (s *lineSink) note(n int, reason string) {
	s.sum.Errors = append(s.sum.Errors, lineError{Line: n, Reason: reason})
	switch {
	case s.quiet:
	case n > 0:
		fmt.Fprintf(s.stderr, "line %d: %s\n", n, reason)
	default: // generated events have no line
		fmt.Fprintln(s.stderr, reason)
	}
}

// readLine reads one line without its newline. A line longer than limit is
// consumed and reported as tooLong, so one huge line cannot stop the run.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if tooLong || len(line)+len(chunk) > limit {
			tooLong, line = true, line[:0]
		} else {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

func printSummary(stdout, stderr io.Writer, s *summary, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s)
		return
	}
	fmt.Fprintf(stderr, "published %d, rejected %d, failed %d in %.2fs (%.0f events/s)\n",
		s.Published, s.Rejected, s.Failed, s.Elapsed, s.Rate)
}
