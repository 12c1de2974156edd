package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/router/internal/backfill"
	"github.com/auditstream/auditstream/router/internal/topics"
)

// backfillCmd runs `router backfill`.
func backfillCmd(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "pipeline.yaml", "pipeline file")
	id := fs.String("connector", "", "the connector to fill (required)")
	from := fs.String("from", "", "RFC3339 time or 'earliest' (required)")
	to := fs.String("to", "", "RFC3339 time to end before (default: where live routing began)")
	rate := fs.Float64("rate", 0, "cap on the offsets read per second (0: none)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.Usage = func() { fmt.Fprint(stderr, backfillUsage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := backfill.Options{Connector: *id, Rate: *rate, Log: log, Progress: stderr, Terminal: isTerminal(stderr)}
	var err error
	if o.From, err = parseTime(*from, true); err != nil || *id == "" || fs.NArg() > 0 {
		if err == nil {
			err = errors.New("--connector is required, and takes no arguments")
		}
		fmt.Fprintf(stderr, "router backfill: %v\n", err)
		return 2
	}
	if o.To, err = parseTime(*to, false); err != nil {
		fmt.Fprintf(stderr, "router backfill: %v\n", err)
		return 2
	}
	if !o.To.IsZero() && !o.To.After(o.From) {
		fmt.Fprintln(stderr, "router backfill: --to must be after --from")
		return 2
	}
	if o.Pipeline, err = config.Load(*path); err == nil {
		err = o.Pipeline.CheckSecrets(routerSecrets("backfill"))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if _, ok := o.Pipeline.Connector(*id); !ok {
		fmt.Fprintf(stderr, "router backfill: connector %q is not in %s\n", *id, *path)
		return 2
	}
	sum, err := backfill.Run(ctx, o)
	if sum != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(sum)
		} else {
			fmt.Fprintf(stdout, "backfill %s -> %s: %d sent, %d filtered out, %d dead letters (left to the router's DLQ), %d offsets read in %d transactions; complete: %v\n",
				sum.Connector, sum.Topic, sum.Sent, sum.Filtered, sum.DeadLetters, sum.Read, sum.Transactions, sum.Complete)
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, backfill.ErrNoLiveStart):
		fmt.Fprintf(stderr, "router backfill: %v\n", err)
		return 3
	case errors.Is(err, backfill.ErrInterrupted):
		fmt.Fprintf(stderr, "router backfill: %v\n", err)
		return 4
	case errors.As(err, new(*topics.DurabilityError)):
		fmt.Fprintf(stderr, "router backfill: %v\n", err)
		return 2
	default:
		log.Error("backfill", "err", err)
		return 1
	}
}

// parseTime reads an RFC3339 time; "" is the zero time (only where
// optional), and so is "earliest" where allowed.
func parseTime(s string, required bool) (time.Time, error) {
	switch {
	case s == "" && required:
		return time.Time{}, errors.New("--from is required (an RFC3339 time, or earliest)")
	case s == "", required && s == "earliest":
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: want RFC3339, e.g. 2026-11-29T08:00:00Z", s)
	}
	return t, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
