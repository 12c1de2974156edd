package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditstream/auditstream/producer"
	"github.com/auditstream/auditstream/producer/loadgen"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

const generateUsage = `Usage: producer generate [flags]

Publishes synthetic, realistic audit events: a few projects, tenants with a
Zipf-like skew (a few big tenants make most of the traffic), and the
well-known audit actions (LoginSucceed, LoginFailed, UserCreated,
UserModified, AccessKeyCreated, ...) weighted as identity traffic is.

It stops after --count events or --duration, whichever comes first (one of
them is required). --rate paces it; 0 means as fast as Kafka takes them.
Progress goes to stderr every two seconds; the summary ends the run.

With --stdout the events are written as NDJSON to standard output instead of
being published, for files, kcat or 'producer publish'. Otherwise generate
first checks that Kafka answers, as publish does (exit 4 when it does not).

` + exitCodes + `
Flags:
`

func generate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, generateUsage); fs.PrintDefaults() }
	var kf kafkaFlags
	kf.register(fs)
	var (
		count    = fs.Int("count", 0, "number of events")
		duration = fs.Duration("duration", 0, "how long to generate")
		perSec   = fs.Float64("rate", 0, "events per second (0: unlimited)")
		projects = fs.Int("projects", 3, "number of projects")
		tenants  = fs.Int("tenants", 50, "number of tenants")
		actions  = fs.String("actions", "", "comma-separated action names to use (default: the well-known set)")
		padTo    = fs.Int("pad", 0, "grow events to about this many protobuf bytes")
		seed     = fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (the same seed gives the same events)")
		toStdout = fs.Bool("stdout", false, "write NDJSON to stdout instead of publishing")
		asJSON   = fs.Bool("json", false, "print the summary as JSON on stdout")
		quiet    = fs.Bool("quiet", false, "no progress lines")
	)
	if err := parse(fs, args); err != nil {
		return exitUsage, err
	}
	if *count <= 0 && *duration <= 0 {
		return exitUsage, usageError{err: errors.New("give --count or --duration")}
	}
	if *toStdout && *asJSON {
		return exitUsage, usageError{err: errors.New("--stdout and --json both write to stdout; choose one")}
	}
	var names []string
	if *actions != "" {
		names = strings.Split(*actions, ",")
	}
	gen := loadgen.New(loadgen.Config{Projects: *projects, Tenants: *tenants, Actions: names, PadTo: *padTo, Seed: *seed})

	// Connect before --duration starts to count.
	var p *producer.Producer
	if !*toStdout {
		var err error
		if p, _, err = kf.connect(ctx, stderr); err != nil {
			return exitFailed, err
		}
	}
	// genCtx ends the generating; events already handed to Kafka are
	// delivered under ctx, so the last ones are not failed by --duration.
	genCtx := ctx
	if *duration > 0 {
		var cancel context.CancelFunc
		genCtx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	limit := rate.NewLimiter(rate.Inf, 1)
	if *perSec > 0 {
		limit = rate.NewLimiter(rate.Limit(*perSec), max(1, int(*perSec/100)))
	}
	var emit func(*auditv1.Event)
	var finish func() error
	var sum summary
	verb := "published"
	if *toStdout {
		verb = "generated"
	}
	prog := startProgress(stderr, *quiet, verb)
	if *toStdout {
		w := bufio.NewWriterSize(stdout, 256<<10)
		emit = func(ev *auditv1.Event) {
			b, _ := protojson.Marshal(ev) // a generated event always encodes
			w.Write(b)
			w.WriteByte('\n')
			sum.Published++
			prog.add(1)
		}
		finish = w.Flush
	} else {
		ls := &lineSink{p: p, quiet: false, stderr: stderr, prog: prog}
		emit = func(ev *auditv1.Event) {
			p.PublishAsync(ctx, ev, func(ev *auditv1.Event, err error) {
				if err != nil {
					ls.fail(0, fmt.Sprintf("publish event %s: %v", ev.GetId(), err))
					return
				}
				prog.add(1)
			})
		}
		finish = func() error {
			// An interrupt must not cut the final flush short.
			err := p.Close(context.WithoutCancel(ctx))
			sum.Published, sum.Failed = prog.n.Load(), ls.sum.Failed
			return err
		}
	}

	start := time.Now()
	for i := 0; *count <= 0 || i < *count; i++ {
		if limit.Wait(genCtx) != nil {
			break
		}
		emit(gen.Next())
	}
	err := finish()
	prog.stop()
	sum.Elapsed = time.Since(start).Seconds()
	if sum.Elapsed > 0 {
		sum.Rate = float64(sum.Published) / sum.Elapsed
	}
	if !*toStdout || *asJSON {
		printSummary(stdout, stderr, &sum, *asJSON)
	}
	if err != nil || sum.Failed > 0 {
		return exitFailed, err
	}
	return exitOK, nil
}
