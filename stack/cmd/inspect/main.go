// Command inspect reads an Auditstream topic from the start (read committed)
// and summarizes it: records, decode errors, and counts per project, action
// and tenant. The demo uses it to show what arrived; operators can use it to
// look at a connector topic or the dead-letter topic.
//
// Brokers: --brokers, else $AUDITSTREAM_BROKERS, else the running local
// stack's from .stack/env in the current directory or a parent, else
// 127.0.0.1:9092.
//
// Exit codes: 0 ok; 1 Kafka unreachable (no answer within 5s) or fewer
// records than --expect; 2 bad usage.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/auditstream/auditstream/proto/record"
	"github.com/auditstream/auditstream/service/buildinfo"
)

// report is what inspect prints.
type report struct {
	Topic        string         `json:"topic"`
	Records      int            `json:"records"`
	DecodeErrors int            `json:"decode_errors"`
	Projects     map[string]int `json:"projects"`
	Actions      map[string]int `json:"actions"`
	Tenants      map[string]int `json:"tenants"`
	DLQReasons   map[string]int `json:"dlq_reasons,omitempty"`
}

func main() {
	if buildinfo.Asked("inspect", os.Args[1:], os.Stdout) {
		return
	}
	brokerFlag := flag.String("brokers", "", "comma-separated brokers (default $AUDITSTREAM_BROKERS, else the running local stack's from .stack/env, else 127.0.0.1:9092)")
	topic := flag.String("topic", "audit.events", "topic to read")
	expect := flag.Int("expect", 0, "wait for at least this many records (exit 1 if they do not come)")
	timeout := flag.Duration("timeout", 10*time.Second, "give up waiting after this long without new records")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: inspect [flags]\n\nSummarizes an Auditstream topic read from the start, read committed.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, _ := os.Getwd() // "" only finds no .stack/env
	addrs, from := brokers(*brokerFlag, os.Getenv, wd)
	if from != "" {
		fmt.Fprintf(os.Stderr, "inspect: AUDITSTREAM_BROKERS is unset: using the local stack's Kafka at %s (from %s)\n", addrs, from)
	}
	r, err := inspect(ctx, strings.Split(addrs, ","), *topic, *expect, *timeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "inspect: %v\n", err)
		os.Exit(1)
	}
	print(os.Stdout, r, *asJSON)
	if r.Records < *expect {
		fmt.Fprintf(os.Stderr, "inspect: %d records, expected at least %d\n", r.Records, *expect)
		os.Exit(1)
	}
}

func inspect(ctx context.Context, brokers []string, topic string, expect int, idle time.Duration) (*report, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// Without this an unreachable Kafka reads as an empty topic.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = cl.Ping(pctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("ping %s: Kafka is unreachable (set --brokers or AUDITSTREAM_BROKERS): %w", strings.Join(brokers, ","), err)
	}
	r := &report{Topic: topic, Projects: map[string]int{}, Actions: map[string]int{}, Tenants: map[string]int{}, DLQReasons: map[string]int{}}
	for {
		// Stop after a quiet period once the expected count is reached.
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return r, nil
		}
		for _, fe := range fs.Errors() {
			if fe.Err != context.DeadlineExceeded {
				return nil, fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		recs := fs.Records()
		for _, rec := range recs {
			r.add(rec)
		}
		if len(recs) == 0 && r.Records >= expect {
			return r, nil
		}
		if len(recs) == 0 && pctx.Err() != nil {
			return r, nil
		}
	}
}

func (r *report) add(rec *kgo.Record) {
	r.Records++
	if reason := record.HeaderValue(rec.Headers, record.HeaderDLQReason); reason != "" {
		r.DLQReasons[reason]++
		return
	}
	ev, err := record.Decode(rec)
	if err != nil {
		r.DecodeErrors++
		return
	}
	r.Projects[ev.GetProjectId()]++
	r.Actions[ev.GetAction()]++
	if len(ev.GetTenants()) == 0 {
		r.Tenants["(none)"]++
	}
	for _, t := range ev.GetTenants() {
		r.Tenants[t]++
	}
}

func print(w io.Writer, r *report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return
	}
	fmt.Fprintf(w, "%s: %d records, %d undecodable\n", r.Topic, r.Records, r.DecodeErrors)
	for _, s := range []struct {
		name string
		m    map[string]int
	}{{"projects", r.Projects}, {"actions", r.Actions}, {"tenants (top 10)", r.Tenants}, {"dlq reasons", r.DLQReasons}} {
		if len(s.m) == 0 {
			continue
		}
		keys := slices.SortedFunc(maps.Keys(s.m), func(a, b string) int { return cmp.Compare(s.m[b], s.m[a]) })
		if len(keys) > 10 {
			keys = keys[:10]
		}
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, s.m[k]))
		}
		fmt.Fprintf(w, "  %-17s %s\n", s.name+":", strings.Join(parts, " "))
	}
}
