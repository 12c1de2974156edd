package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/conntest"
	"github.com/auditstream/auditstream/sinks/internal/replay"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
)

const replayHelp = `auditctl replay --connector ID --from WHERE [--dry-run] [--wait] [--yes] [--follow] [--json]
auditctl replay --connector ID --from WHERE --to WHERE [--dry-run] [--yes] [--json]   (Datadog)

Rewinds one connector's consumer group (auditstream-sink-<id>) so that its
sinks deliver again from WHERE; no other connector, and no topic, is
touched. WHERE is:
  earliest               the oldest record still in the connector's topic
  2026-01-02T15:04:05Z   the first record at or after a time (RFC 3339)
  0:1200,3:900           offsets per partition (others stay as they are)
A partition whose committed offset is already before WHERE stays as it is;
an explicit offset after the committed one is refused (it would skip
records never delivered).

It first shows, per partition, the committed offset, where the group will
start, and how many records will be delivered again (counted with
read_committed, transaction markers left out). --dry-run stops there.

The group must be empty: stop the connector's sinks first. While the group
has members, replay refuses (exit 1), or with --wait waits until they
leave. On a terminal it asks for confirmation; --yes, or stdin that is not
a terminal, skips the question. --follow then reports the lag (stderr)
until the sinks, started again, have caught up.

With --to (Datadog connectors only), the range from --from up to --to
(exclusive: an RFC 3339 time, or PARTITION:OFFSET,... for the partitions
to re-deliver) is sent again by a consumer of auditctl's own that stops at
its end, beside live delivery: the group and its sinks are not touched.
Records the sink dead-lettered, or that its filter rejects, are skipped.
An S3 connector is refused: a second writer beside the live one would
meet its deliveries with other batch boundaries.

What the destination makes of it:
  S3       deliveries already archived are found by their manifests and
           skipped; only what the bucket lacks is written again. The plan
           reads the manifests and lists, per partition, the offsets
           missing from the bucket. Known limits of the S3 writer:
           - an object deleted while its delivery's manifest remains
             stays missing: the plan lists such deliveries; delete each
             whole (remaining objects, then manifest), then replay;
           - a missing delivery is written again with the sink's own
             batch boundaries, which may run into the archived delivery
             after it and write its records twice. When archived
             deliveries follow missing ones inside the range, replay
             refuses unless --allow-overlap.
  Datadog  every record is sent again: "again" is the number of duplicates.

Exit status: 0 rewound (or nothing to do, or --dry-run); 1 refused or
declined; 2 usage; 3 Kafka unreachable; 130 interrupted.

Example:
  auditctl replay --connector dd-prod --from 2026-03-01T09:00:00Z --dry-run
  auditctl replay --connector s3-archive --from earliest --wait --yes --follow
`

// replayResult is the --json output.
type replayResult struct {
	Plan    *replay.Plan `json:"plan"`
	DryRun  bool         `json:"dry_run,omitempty"`
	Applied bool         `json:"applied"`
	Refused string       `json:"refused,omitempty"`
	Lag     *int64       `json:"lag_after_follow,omitempty"`
}

func replayCmd(ctx context.Context, args []string, e env) int {
	c := newCommand("replay", replayHelp, e)
	id := c.fs.String("connector", "", "the connector to replay")
	fromFlag := c.fs.String("from", "", "earliest, an RFC 3339 time, or PARTITION:OFFSET,...")
	dry := c.fs.Bool("dry-run", false, "show the plan and stop")
	wait := c.fs.Bool("wait", false, "wait until the group has no members instead of refusing")
	yes := c.fs.Bool("yes", false, "do not ask for confirmation")
	follow := c.fs.Bool("follow", false, "after the rewind, report the lag until it is 0")
	every := c.fs.Duration("every", 2*time.Second, "poll interval of --wait and --follow")
	allowOverlap := c.fs.Bool("allow-overlap", false, "S3: replay even where archived deliveries follow missing ones (records after a missing span may be written twice)")
	toFlag := c.fs.String("to", "", "Datadog: re-deliver only up to here (exclusive; an RFC 3339 time or PARTITION:OFFSET,...), beside live delivery")
	if code, ok := c.parse(args, e); !ok {
		return code
	}
	if !c.noArgs(e) {
		return exitUsage
	}
	from, err := replay.ParseFrom(*fromFlag)
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl replay:", err)
		return exitUsage
	}
	var to replay.From
	if *toFlag != "" {
		if to, err = replay.ParseFrom(*toFlag); err != nil || to.Earliest {
			fmt.Fprintf(e.stderr, "auditctl replay: --to %q: want an RFC 3339 time or PARTITION:OFFSET,...\n", *toFlag)
			return exitUsage
		}
		if *wait || *follow || *allowOverlap {
			fmt.Fprintln(e.stderr, "auditctl replay: --to re-delivers beside live delivery: --wait, --follow and --allow-overlap do not apply")
			return exitUsage
		}
	}
	p, ok := c.load(e)
	if !ok {
		return exitUsage
	}
	conn, ok := connector(p, *id, e)
	if !ok {
		return exitUsage
	}
	if !secrets(p, config.SecretScope{Kafka: true, Connectors: []string{conn.ID}}, e) {
		return exitUsage
	}
	if *toFlag != "" && conn.Type != config.TypeDatadog {
		fmt.Fprintf(e.stderr, "auditctl replay: --to is for Datadog connectors; connector %s is %s. An S3 re-delivery beside the live writer "+
			"would meet its deliveries with other batch boundaries; rewind instead (no --to): the writer skips what the bucket holds\n", conn.ID, conn.Type)
		return exitUsage
	}
	k, code := connect(ctx, p, e)
	if k == nil {
		return code
	}
	defer k.Close()
	if *toFlag != "" {
		return bounded(ctx, e, c, p, conn, k, from, to, *dry, *yes)
	}
	res := &replayResult{DryRun: *dry}
	done := func(code int) int {
		if *c.json {
			writeJSON(e.stdout, res)
		}
		return code
	}
	refuse := func(msg string) int {
		res.Refused = msg
		fmt.Fprintln(e.stderr, "auditctl replay: refused:", msg)
		return done(exitProblem)
	}
	o := replay.Options{Pipeline: p, Connector: conn, Admin: k.adm, Opts: k.opts, Progress: progress(e.stderr, "counting the records to deliver again")}
	if conn.Type == config.TypeS3 {
		// The bucket says what a replay writes again.
		w, err := s3sink.New(ctx, s3sink.Options{Connector: conn})
		if err != nil {
			fmt.Fprintln(e.stderr, "auditctl replay: the bucket cannot be read, so the plan does not say what it lacks:", err)
		} else {
			o.Archive = w
		}
	}
	if o.Archive != nil {
		fmt.Fprintln(e.stderr, "reading the bucket: the manifests of the replayed ranges, and their objects")
	}
	plan, err := replay.MakePlan(ctx, o, from)
	var refused *replay.RefusedError
	switch {
	case errors.As(err, &refused):
		return refuse(refused.Msg)
	case err != nil:
		return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
	}
	res.Plan = plan
	if !*c.json {
		writePlan(e.stdout, plan)
	}
	if !plan.Changes() {
		fmt.Fprintln(e.stderr, "nothing to rewind: every partition's committed offset is at or before --from")
		return done(exitOK)
	}
	if plan.Overlap {
		fmt.Fprintln(e.stderr, "warning:", replay.OverlapWarning)
	}
	if plan.Orphans > 0 {
		fmt.Fprintln(e.stderr, "warning:", replay.OrphanWarning)
	}
	if *dry {
		fmt.Fprintln(e.stderr, "dry run: nothing changed")
		return done(exitOK)
	}
	if plan.Overlap && !*allowOverlap {
		return refuse(replay.OverlapWarning)
	}
	if conn.Type == config.TypeS3 && strings.HasPrefix(plan.Archive, "not checked") && !*allowOverlap {
		// An unreachable bucket is an outage to wait out, like an
		// unreachable Kafka (exit 3), not a refusal: run it again later.
		if why, ok := conntest.Unreachable(plan.ArchiveErr); ok {
			res.Refused = "the bucket could not be reached: " + why
			fmt.Fprintln(e.stderr, "auditctl replay: the bucket could not be reached ("+why+"); nothing was changed: run it again once it is reachable")
			return done(exitUnreachable)
		}
		return refuse("the bucket could not be read (" + plan.Archive + "), so it is unknown whether archived deliveries follow " +
			"missing ones; fix access to the bucket, or pass --allow-overlap")
	}
	state, members, err := replay.Members(ctx, k.adm, plan.Group)
	if err != nil {
		return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
	}
	if members > 0 && !*wait {
		return refuse(fmt.Sprintf("group %s has %d active member(s) (%s): the connector's sinks are running. Stop them first, "+
			"or pass --wait to wait until they stop: Kafka refuses offsets written from outside a group with members, "+
			"and a running sink would overwrite them at its next commit", plan.Group, members, state))
	}
	if e.terminal && !*yes {
		fmt.Fprintf(e.stderr, "rewind group %s as shown? [y/N] ", plan.Group)
		if !confirmed(e.stdin) {
			return refuse("not confirmed")
		}
	}
	if members > 0 {
		fmt.Fprintf(e.stderr, "waiting for group %s to become empty: it has %d member(s); stop the connector's sinks (SIGTERM: they commit and leave)\n", plan.Group, members)
		err := replay.WaitEmpty(ctx, k.adm, plan.Group, *every, func(state string, n int) {
			fmt.Fprintf(e.stderr, "  still %d member(s) (%s)\n", n, state)
		})
		if err != nil {
			if ctx.Err() != nil {
				return exitInterrupted
			}
			return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
		}
		// The sinks committed while they stopped: plan again from there.
		if plan, err = replay.MakePlan(ctx, o, from); err != nil {
			if errors.As(err, &refused) {
				return refuse(refused.Msg)
			}
			return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
		}
		if plan.Overlap && !*allowOverlap {
			return refuse(replay.OverlapWarning)
		}
		res.Plan = plan
		fmt.Fprintln(e.stderr, "the group is empty; the plan, read again:")
		writePlan(e.stderr, plan)
	}
	if err := replay.Apply(ctx, k.adm, plan); err != nil {
		if _, n, merr := replay.Members(ctx, k.adm, plan.Group); merr == nil && n > 0 {
			return refuse(fmt.Sprintf("a sink joined group %s meanwhile (%v); nothing was changed", plan.Group, err))
		}
		return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
	}
	res.Applied = true
	fmt.Fprintf(e.stderr, "group %s rewound; the connector's sinks deliver from there when they start\n", plan.Group)
	if *follow {
		fmt.Fprintln(e.stderr, "following the lag until the sinks have caught up (Ctrl-C stops following, not the replay)")
		var last int64
		err := replay.Follow(ctx, k.adm, k.opts, plan.Group, plan.Topic, *every, func(lag int64, approx bool) {
			last = lag
			a := ""
			if approx {
				a = " (approximate)"
			}
			fmt.Fprintf(e.stderr, "  %s lag %d%s\n", time.Now().Format(time.TimeOnly), lag, a)
		})
		res.Lag = &last
		if err != nil {
			if ctx.Err() != nil {
				done(exitOK)
				return exitInterrupted
			}
			return done(kafkaFailed(e.stderr, "replay: follow", err, replayACLs(p, conn.ID)))
		}
		fmt.Fprintln(e.stderr, "caught up")
	}
	return done(exitOK)
}

func writePlan(w io.Writer, pl *replay.Plan) {
	fmt.Fprintf(w, "replay of connector %s (%s): group %s on %s, from %s\n", pl.Connector, pl.Type, pl.Group, pl.Topic, pl.From)
	fmt.Fprintf(w, "  %-9s %12s %12s %12s %12s\n", "partition", "committed", "from", "end", "again")
	for _, p := range pl.Partitions {
		c := fmt.Sprint(p.Committed)
		if p.Committed < 0 {
			c = "none"
		}
		again := fmt.Sprint(p.Again)
		if p.Unchanged {
			again = "unchanged"
		}
		fmt.Fprintf(w, "  %-9d %12s %12d %12d %12s\n", p.Partition, c, p.From, p.End, again)
		if p.Note != "" {
			fmt.Fprintf(w, "    %s\n", p.Note)
		}
		if len(p.Missing) > 0 {
			spans := make([]string, len(p.Missing))
			for i, s := range p.Missing {
				spans[i] = fmt.Sprintf("%d-%d", s.First, s.Last)
			}
			fmt.Fprintf(w, "    missing from the bucket, written again: offsets %s\n", strings.Join(spans, ", "))
		} else if !p.Unchanged && pl.Type == "s3" && strings.HasPrefix(pl.Archive, "checked") {
			fmt.Fprintln(w, "    the bucket holds every delivery of the range: each is skipped")
		}
		for _, o := range p.Orphans {
			fmt.Fprintf(w, "    objects gone while the manifest remains (skipped): %s (offsets %d-%d), %d of %d objects gone: %s\n",
				o.Manifest, o.Span.First, o.Span.Last, len(o.Missing), len(o.Objects), strings.Join(o.Missing, ", "))
		}
	}
	approx := ""
	if pl.Approx {
		approx = " (counted in offsets: the range is too large to count records)"
	}
	fmt.Fprintf(w, "  %d records delivered again%s\n  %s\n", pl.Again, approx, pl.Effect)
	if pl.Archive != "" {
		fmt.Fprintf(w, "  bucket: %s\n", pl.Archive)
	}
}

// confirmed reads a yes from r.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// progress returns a callback that reports a count on w, at most every
// half second.
func progress(w io.Writer, what string) func(int64) {
	var last time.Time
	return func(n int64) {
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "%s: %d read\n", what, n)
	}
}
