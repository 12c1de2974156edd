// Command democheck checks, from the outside, that a run of `make demo`
// delivered what it published. It reads the events the run published
// (NDJSON, as `producer generate --stdout` writes them), applies each
// connector's filter to each of them, as the router does, and then looks at
// the destinations themselves, not at the pipeline's own records:
//
//   - S3: every published event is in every S3 connector whose filter
//     matches it, exactly once, and in no other S3 connector. It reads the
//     objects (gzip NDJSON, the id of each line) in the date directories of
//     the published events.
//   - Datadog: every published event the connector's filter matches was
//     accepted by the intake test server (its GET /_intake/logs), and no
//     other. Datadog delivery is at-least-once: duplicates are counted, not
//     failed.
//
// Delivery takes a while after the last event is published, so it polls
// until everything is there or --wait has passed, then prints, per
// connector, what was expected and what was found, and an example object
// with one of its lines.
//
// Exit codes: 0 complete; 1 a shortfall (missing, misrouted, duplicated in
// S3, unreadable), or a destination that could not be read; 2 bad usage,
// configuration or published file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/service/buildinfo"
)

const usage = `Usage: democheck --config FILE --published FILE [--wait 60s] [--json]

Checks that every published event reached every connector whose filter
matches it, and no other: S3 objects and the Datadog intake test server,
read from the outside. Waits up to --wait for delivery.

Exit codes: 0 complete; 1 shortfall or a destination not readable; 2 usage.

Flags:
`

// Exit codes.
const (
	exitOK        = 0
	exitShortfall = 1
	exitUsage     = 2
)

func main() {
	if buildinfo.Asked("democheck", os.Args[1:], os.Stdout) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// poller reads what a destination holds now, into its target.
type poller func(ctx context.Context, t *target) error

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("democheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "the pipeline file")
	publishedPath := fs.String("published", "", "the events the run published, NDJSON")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for every event to be delivered")
	every := fs.Duration("every", 2*time.Second, "how often to look again while waiting")
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *configPath == "" || *publishedPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	p, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "democheck:", err)
		return exitUsage
	}
	f, err := os.Open(*publishedPath)
	if err != nil {
		fmt.Fprintln(stderr, "democheck:", err)
		return exitUsage
	}
	evs, err := readPublished(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "democheck: %s: %v\n", *publishedPath, err)
		return exitUsage
	}
	ts, err := targets(p, evs)
	if err != nil {
		fmt.Fprintln(stderr, "democheck:", err)
		return exitUsage
	}
	published := make(map[string]bool, len(evs))
	for _, ev := range evs {
		published[ev.id] = true
	}
	pollers, err := newPollers(ctx, p, evs, published)
	if err != nil {
		fmt.Fprintln(stderr, "democheck:", err)
		return exitUsage
	}

	readErr := await(ctx, ts, pollers, *wait, *every, stderr)
	v := verdict{Published: len(evs), Nowhere: nowhere(evs, ts)}
	for _, t := range ts {
		v.Connectors = append(v.Connectors, t.evaluate())
	}
	if readErr != nil {
		v.Errors = append(v.Errors, readErr.Error())
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	} else {
		v.text(stdout)
	}
	if !v.ok() {
		return exitShortfall
	}
	return exitOK
}

// newPollers builds a reader for each connector's destination.
func newPollers(ctx context.Context, p *config.Pipeline, evs []event, published map[string]bool) ([]poller, error) {
	ds := dirs(evs)
	hc := &http.Client{Timeout: 30 * time.Second}
	intakes := make(map[string]string) // intake URL -> connector
	var ps []poller
	for i := range p.Connectors {
		c := &p.Connectors[i]
		switch c.Type {
		case config.TypeS3:
			r, err := newS3Reader(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("connector %s: %w", c.ID, err)
			}
			ps = append(ps, func(ctx context.Context, t *target) error { return r.poll(ctx, ds, t, published) })
		case config.TypeDatadog:
			var d struct {
				URL string `yaml:"url"`
			}
			if err := c.DecodeBlock(&d); err != nil {
				return nil, fmt.Errorf("connector %s: %w", c.ID, err)
			}
			u := d.URL
			if u == "" {
				return nil, fmt.Errorf("connector %s: datadog.url is not set: the check reads the intake test server's logs, not Datadog's", c.ID)
			}
			// One intake's logs cannot be told apart by connector.
			if other, ok := intakes[u]; ok {
				return nil, fmt.Errorf("connectors %s and %s send to the same intake %s: give each its own", other, c.ID, u)
			}
			intakes[u] = c.ID
			r := &intakeReader{hc: hc, base: u}
			ps = append(ps, func(ctx context.Context, t *target) error { return r.poll(ctx, t, published) })
		default:
			return nil, fmt.Errorf("connector %s: type %q is not checked", c.ID, c.Type)
		}
	}
	return ps, nil
}

// progressEvery is how often await says how far delivery has come.
const progressEvery = 5 * time.Second

// await polls every destination until each connector holds every event its
// filter matches, or until wait has passed. It returns the last read error,
// if the last pass had one.
func await(ctx context.Context, ts []*target, ps []poller, wait, every time.Duration, stderr io.Writer) error {
	deadline := time.Now().Add(wait)
	var said time.Time
	for {
		var last error
		done := true
		for i, t := range ts {
			if err := ps[i](ctx, t); err != nil {
				last = fmt.Errorf("connector %s: %w", t.id, err)
			}
			done = done && t.complete()
		}
		if (done && last == nil) || ctx.Err() != nil || !time.Now().Before(deadline) {
			return last
		}
		if time.Since(said) >= progressEvery {
			said = time.Now()
			fmt.Fprintf(stderr, "democheck: waiting for delivery (%s left):", time.Until(deadline).Round(time.Second))
			for _, t := range ts {
				fmt.Fprintf(stderr, " %s %d/%d", t.id, found(t), len(t.want))
			}
			if last != nil {
				fmt.Fprintf(stderr, " (%v)", last)
			}
			fmt.Fprintln(stderr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// found is how many of the events the target's filter matches were found.
func found(t *target) int {
	n := 0
	for id := range t.want {
		if t.seen[id] > 0 {
			n++
		}
	}
	return n
}

// nowhere counts the published events that no connector's filter matches.
func nowhere(evs []event, ts []*target) int {
	n := 0
	for _, ev := range evs {
		routed := false
		for _, t := range ts {
			routed = routed || t.want[ev.id]
		}
		if !routed {
			n++
		}
	}
	return n
}
