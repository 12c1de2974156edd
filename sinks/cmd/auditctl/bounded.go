package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/offsets"
	"github.com/auditstream/auditstream/sinks/internal/redeliver"
	"github.com/auditstream/auditstream/sinks/internal/replay"
)

// boundedPartition is one partition of a bounded re-delivery.
type boundedPartition struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
	Records   int64 `json:"records"`
	// Committed is the group's offset; records at or after it are
	// delivered by the live sink too.
	Committed int64 `json:"committed"`
}

// boundedResult is the --json output of replay --to.
type boundedResult struct {
	Connector  string             `json:"connector"`
	Topic      string             `json:"topic"`
	Partitions []boundedPartition `json:"partitions"`
	Records    int64              `json:"records"`
	DryRun     bool               `json:"dry_run,omitempty"`
	Refused    string             `json:"refused,omitempty"`
	Result     *redeliver.Result  `json:"result,omitempty"`
}

// bounded is replay --to: re-deliver a range beside live delivery.
func bounded(ctx context.Context, e env, c *command, p *config.Pipeline, conn *config.Connector, k *kafka, from, to replay.From, dry, yes bool) int {
	topic, group := p.ConnectorTopic(conn.ID), p.ConnectorGroup(conn.ID)
	res := &boundedResult{Connector: conn.ID, Topic: topic, DryRun: dry}
	done := func(code int) int {
		if *c.json {
			writeJSON(e.stdout, res)
		}
		return code
	}
	fail := func(err error) int {
		var refused *replay.RefusedError
		if errors.As(err, &refused) {
			res.Refused = refused.Msg
			fmt.Fprintln(e.stderr, "auditctl replay: refused:", refused.Msg)
			return done(exitProblem)
		}
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "auditctl replay:", err)
			return exitInterrupted
		}
		return kafkaFailed(e.stderr, "replay", err, replayACLs(p, conn.ID))
	}
	start, end, err := offsets.Ends(ctx, k.adm, topic)
	if err != nil {
		return fail(err)
	}
	fromOff, err := replay.Resolve(ctx, k.adm, topic, from, start, end)
	if err != nil {
		return fail(err)
	}
	toOff, err := replay.Resolve(ctx, k.adm, topic, to, start, end)
	if err != nil {
		return fail(err)
	}
	for part, f := range fromOff {
		fromOff[part] = max(f, start[part])
	}
	ranges, err := redeliver.Ranges(ctx, k.adm, topic, fromOff, toOff)
	if err != nil {
		return fail(err)
	}
	committed, err := offsets.Committed(ctx, k.adm, group, topic)
	if err != nil {
		return fail(err)
	}
	counts, err := offsets.Count(ctx, k.opts, topic, ranges, progress(e.stderr, "counting the records to deliver again"))
	if err != nil {
		return fail(err)
	}
	for part, r := range ranges {
		bp := boundedPartition{Partition: part, From: r.From, To: r.To, Records: counts[part], Committed: -1}
		if c, ok := committed[part]; ok {
			bp.Committed = c
		}
		res.Partitions = append(res.Partitions, bp)
		res.Records += counts[part]
	}
	sort.Slice(res.Partitions, func(i, j int) bool { return res.Partitions[i].Partition < res.Partitions[j].Partition })
	if !*c.json {
		fmt.Fprintf(e.stdout, "bounded re-delivery of connector %s (%s) from %s to %s, beside live delivery (group %s untouched)\n",
			conn.ID, conn.Type, from, to, group)
		fmt.Fprintf(e.stdout, "  %-9s %12s %12s %12s %12s\n", "partition", "from", "to", "records", "committed")
		for _, bp := range res.Partitions {
			fmt.Fprintf(e.stdout, "  %-9d %12d %12d %12d %12d\n", bp.Partition, bp.From, bp.To, bp.Records, bp.Committed)
		}
		fmt.Fprintf(e.stdout, "  %d records sent again: each one already delivered is a duplicate in Datadog\n", res.Records)
	}
	for _, bp := range res.Partitions {
		if bp.To > bp.Committed {
			fmt.Fprintf(e.stderr, "warning: partition %d: offsets %d-%d are not committed yet: the live sink delivers them too\n",
				bp.Partition, max(bp.From, bp.Committed), bp.To-1)
		}
	}
	if res.Records == 0 {
		fmt.Fprintln(e.stderr, "nothing to re-deliver")
		return done(exitOK)
	}
	if dry {
		fmt.Fprintln(e.stderr, "dry run: nothing sent")
		return done(exitOK)
	}
	if e.terminal && !yes {
		fmt.Fprintf(e.stderr, "send %d records to %s again? [y/N] ", res.Records, conn.ID)
		if !confirmed(e.stdin) {
			res.Refused = "not confirmed"
			return done(exitProblem)
		}
	}
	w, err := ddsink.New(ddsink.Options{Connector: conn, Log: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl replay:", err)
		return exitUsage
	}
	report := progress(e.stderr, "re-delivering")
	todo := make(map[int32]offsets.Range, len(ranges))
	for part, r := range ranges {
		todo[part] = r
	}
	r, err := redeliver.Run(ctx, redeliver.Options{
		Pipeline: p, Connector: conn, Opts: k.opts, Writer: w,
		Progress: func(n, _ int64) { report(n) },
		Retry: func(err error, wait time.Duration) {
			fmt.Fprintf(e.stderr, "write failed, retrying in %s: %v\n", wait.Round(time.Second), err)
		},
	}, todo, res.Records)
	res.Result = &r
	if err != nil {
		fmt.Fprintf(e.stderr, "auditctl replay: %v (sent %d before)\n", err, r.Sent)
		done(0)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitUnreachable
	}
	fmt.Fprintf(e.stderr, "sent %d again; skipped %d invalid (in the dead-letter topic), %d not the connector's; %d rejected by the destination\n",
		r.Sent, r.Invalid, r.Filtered, r.Rejected)
	return done(exitOK)
}
