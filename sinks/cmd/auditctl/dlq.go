package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/dlq"
)

const dlqHelp = `auditctl dlq list    [--reason R] [--stage S] [--connector ID] [--since T] [--until T] [--limit N] [--json]
auditctl dlq show    TOPIC/PARTITION/OFFSET [--json]
auditctl dlq redrive [--ref TOPIC/PARTITION/OFFSET ...] [filters] [--all] [--dry-run] [--yes] [--json]

list and show read the dead-letter topic (read_committed) and print each
dead letter's stage, reason, error, where it was read, its headers and a
decoded preview of its value. Filters: --reason (too_large,
malformed_json, header_mismatch, ...), --stage (router, sink, or
sink:<id>), --connector (sink-stage dead letters of one connector), --since
and --until (RFC 3339, the dead letter's time).

redrive sends the chosen dead letters back after a fix:
  - a router-stage dead letter goes back to the events topic (the router
    routes it again, to every connector whose filter matches);
  - a sink-stage dead letter (stage sink:<id>) goes back to that
    connector's topic only: through the router, every other matching
    connector would get a second copy.
It is exactly once: one Kafka transaction writes the records and, for each,
a marker in the dead-letter topic; a dead letter with a marker is skipped
by any later redrive. A redriven record keeps its key, value and headers,
with provenance: redrive-of (TOPIC/PARTITION/OFFSET of the dead letter),
redrive-at, and the dead letter's dlq-* headers renamed redrive-dlq-*. A
record that fails again returns to the dead-letter topic with that history.
Dead letters truncated to fit the dead-letter topic (dlq-truncated) are
refused: their value is not the whole event.
Redrive needs --ref, a filter or --all. On a terminal it asks first.

Exit status: 0 done; 1 some dead letter refused, or declined; 2 usage;
3 Kafka unreachable.

Example:
  auditctl dlq list --stage sink:dd-prod --since 2026-03-01T00:00:00Z
  auditctl dlq show audit.dlq/0/1234
  auditctl dlq redrive --connector dd-prod --reason rejected --dry-run
`

func dlqCmd(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stdout, dlqHelp)
			return exitOK
		}
		fmt.Fprint(e.stderr, "auditctl dlq: want list, show or redrive\n\n", dlqHelp)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	c := newCommand("dlq "+sub, dlqHelp, e)
	var f dlq.Filter
	var since, until string
	var refs refList
	c.fs.StringVar(&f.Reason, "reason", "", "only this dlq-reason")
	c.fs.StringVar(&f.Stage, "stage", "", "only this stage: router, sink, or sink:<id>")
	c.fs.StringVar(&f.Connector, "connector", "", "only sink-stage dead letters of this connector")
	c.fs.StringVar(&since, "since", "", "only dead letters at or after this time (RFC 3339)")
	c.fs.StringVar(&until, "until", "", "only dead letters before this time (RFC 3339)")
	limit := c.fs.Int("limit", 100, "list: at most this many, the newest (0: all)")
	all := c.fs.Bool("all", false, "redrive: every dead letter the filters choose (required without filters)")
	dry := c.fs.Bool("dry-run", false, "redrive: show what would be sent, and stop")
	yes := c.fs.Bool("yes", false, "redrive: do not ask for confirmation")
	c.fs.Var(&refs, "ref", "redrive: this dead letter (TOPIC/PARTITION/OFFSET); repeatable")
	switch sub {
	case "list", "show", "redrive":
	default:
		fmt.Fprintf(e.stderr, "auditctl dlq: unknown subcommand %q\n\n%s", sub, dlqHelp)
		return exitUsage
	}
	if code, ok := c.parse(args, e); !ok {
		return code
	}
	var err error
	if f.Since, err = parseTime("since", since); err == nil {
		f.Until, err = parseTime("until", until)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl dlq:", err)
		return exitUsage
	}
	f.Refs = refs
	if sub == "show" {
		if len(c.args) != 1 {
			fmt.Fprintln(e.stderr, "auditctl dlq show: want one TOPIC/PARTITION/OFFSET")
			return exitUsage
		}
		r, err := dlq.ParseRef(c.args[0])
		if err != nil {
			fmt.Fprintln(e.stderr, "auditctl dlq show:", err)
			return exitUsage
		}
		f.Refs = []dlq.Ref{r}
	} else if len(c.args) > 0 {
		fmt.Fprintf(e.stderr, "auditctl dlq %s: unexpected argument %q\n", sub, c.args[0])
		return exitUsage
	}
	p, ok := c.load(e)
	if !ok {
		return exitUsage
	}
	if f.Connector != "" {
		if _, ok := connector(p, f.Connector, e); !ok {
			return exitUsage
		}
	}
	// Dead letters go back to Kafka topics, never to a destination.
	if !secrets(p, config.SecretScope{Kafka: true}, e) {
		return exitUsage
	}
	for _, r := range f.Refs {
		if r.Topic != p.Topics.DLQ.Name {
			fmt.Fprintf(e.stderr, "auditctl dlq: %s is not in the dead-letter topic %s\n", r, p.Topics.DLQ.Name)
			return exitUsage
		}
	}
	if sub == "redrive" && !*all && f.Reason == "" && f.Stage == "" && f.Connector == "" && f.Since.IsZero() && f.Until.IsZero() && len(refs) == 0 {
		fmt.Fprintln(e.stderr, "auditctl dlq redrive: choose dead letters with --ref, a filter, or --all")
		return exitUsage
	}
	k, code := connect(ctx, p, e)
	if k == nil {
		return code
	}
	defer k.Close()
	scan, err := dlq.Read(ctx, k.adm, p.Topics.DLQ.Name, f, dlq.ScanOptions{Opts: k.opts, Since: f.Since,
		Progress: progress(e.stderr, "reading "+p.Topics.DLQ.Name)})
	if err != nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return kafkaFailed(e.stderr, "dlq", err, dlqReadACLs(p))
	}
	switch sub {
	case "list":
		letters := scan.Letters
		if *limit > 0 && len(letters) > *limit {
			fmt.Fprintf(e.stderr, "%d dead letters match; showing the newest %d (--limit)\n", len(letters), *limit)
			letters = letters[len(letters)-*limit:]
		}
		if *c.json {
			writeJSON(e.stdout, letters)
			return exitOK
		}
		for _, l := range letters {
			writeLetter(e, l, false)
		}
		fmt.Fprintf(e.stderr, "%d dead letters (of %d records read)\n", len(scan.Letters), scan.Read)
		return exitOK
	case "show":
		if len(scan.Letters) == 0 {
			fmt.Fprintf(e.stderr, "auditctl dlq show: no dead letter at %s\n", f.Refs[0])
			return exitProblem
		}
		if *c.json {
			writeJSON(e.stdout, scan.Letters[0])
			return exitOK
		}
		writeLetter(e, scan.Letters[0], true)
		return exitOK
	}
	return redrive(ctx, e, c, p, k, scan, *dry, *yes)
}

func redrive(ctx context.Context, e env, c *command, p *config.Pipeline, k *kafka, scan *dlq.Scan, dry, yes bool) int {
	targets := dlq.Targets(p, scan.Letters)
	code := exitOK
	n := 0
	for _, t := range targets {
		switch {
		case t.Refused != "":
			fmt.Fprintf(e.stderr, "refused %s (%s, %s): %s\n", t.Letter.Ref, t.Letter.Stage, t.Letter.Reason, t.Refused)
			code = exitProblem
		case t.Skipped != "":
			fmt.Fprintf(e.stderr, "skipped %s: %s\n", t.Letter.Ref, t.Skipped)
		default:
			fmt.Fprintf(e.stderr, "redrive %s (%s, %s) -> %s\n", t.Letter.Ref, t.Letter.Stage, t.Letter.Reason, t.Topic)
			n++
		}
	}
	fmt.Fprintf(e.stderr, "%d to redrive\n", n)
	out := func() {
		if *c.json {
			writeJSON(e.stdout, targets)
		}
	}
	if n == 0 || dry {
		if dry {
			fmt.Fprintln(e.stderr, "dry run: nothing sent")
		}
		out()
		return code
	}
	if e.terminal && !yes {
		fmt.Fprintf(e.stderr, "send %d dead letters back? [y/N] ", n)
		if !confirmed(e.stdin) {
			fmt.Fprintln(e.stderr, "not confirmed: nothing sent")
			return exitProblem
		}
	}
	err := dlq.Redrive(ctx, k.adm, dlq.RedriveOptions{Pipeline: p, Opts: k.opts, Now: time.Now}, targets)
	if err != nil {
		out()
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "auditctl dlq redrive:", err)
			return exitInterrupted
		}
		return kafkaFailed(e.stderr, "dlq redrive", err, redriveACLs(p))
	}
	sent := 0
	for _, t := range targets {
		if t.To != "" {
			sent++
		} else if t.Skipped != "" && t.Topic != "" {
			fmt.Fprintf(e.stderr, "skipped %s: %s\n", t.Letter.Ref, t.Skipped)
		}
	}
	fmt.Fprintf(e.stderr, "redriven: %d\n", sent)
	if !*c.json {
		for _, t := range targets {
			if t.To != "" {
				fmt.Fprintf(e.stdout, "%s -> %s\n", t.Letter.Ref, t.To)
			}
		}
	}
	out()
	return code
}

func writeLetter(e env, l *dlq.Letter, headers bool) {
	w := e.stdout
	fmt.Fprintf(w, "%s  %s  stage %s  reason %s\n", l.Ref, l.Time.Format(time.RFC3339), l.Stage, l.Reason)
	fmt.Fprintf(w, "  read from %s/%d/%d; %d bytes", l.Source.Topic, l.Source.Partition, l.Source.Offset, l.Bytes)
	if l.Truncated {
		fmt.Fprint(w, " (TRUNCATED)")
	}
	if l.Redriven != "" {
		fmt.Fprintf(w, "; redriven to %s", l.Redriven)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  error: %s\n", l.Error)
	if pv := l.Preview; pv.Error != "" {
		fmt.Fprintf(w, "  value: does not decode: %s\n", pv.Error)
	} else {
		fmt.Fprintf(w, "  event %s project %s action %s tenants %v occurred %s\n", pv.ID, pv.Project, pv.Action, pv.Tenants, pv.Occurred.Format(time.RFC3339))
	}
	if headers {
		fmt.Fprintln(w, "  headers:")
		for _, h := range l.Headers {
			fmt.Fprintf(w, "    %s: %s\n", h.Key, h.Value)
		}
	}
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z)", name, s)
	}
	return t, nil
}

// refList is a repeatable --ref.
type refList []dlq.Ref

func (l *refList) String() string { return fmt.Sprint(*l) }

func (l *refList) Set(s string) error {
	r, err := dlq.ParseRef(s)
	if err != nil {
		return err
	}
	*l = append(*l, r)
	return nil
}
