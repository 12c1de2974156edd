package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/auditstream/auditstream/config"

	"github.com/auditstream/auditstream/sinks/internal/status"
)

const statusHelp = `auditctl status [--connector ID] [--watch [--every 2s]] [--json]

For each connector: its type and filter in words; its lag per partition
and in total (records, not offsets: transaction markers are not counted,
so a caught-up connector reads 0); the members of its consumer group
(auditstream-sink-<id>); the time of its last write and its readiness,
from the sink's /metrics and /readyz at the connector's listen address;
its dead letters by reason. For the router: lag, members, readiness and
committed transactions per second (sampled from its /metrics over 1 s).

Each replica advertises its admin address in its Kafka client id, so every
replica of a service is asked, wherever it runs; a service whose group has
no such member is asked at its listen address in the pipeline file. The
admin block's token and TLS settings (admin.token, admin.tls.ca_file)
are used to ask them.

Exit status 1 when a service that answered says it is not ready, 3 when
Kafka is unreachable.

Example:
  auditctl status --config pipeline.yaml --connector s3-archive
  auditctl status --watch --every 5s
`

func statusCmd(ctx context.Context, args []string, e env) int {
	c := newCommand("status", statusHelp, e)
	id := c.fs.String("connector", "", "only this connector (the router is left out)")
	watch := c.fs.Bool("watch", false, "repeat until interrupted")
	every := c.fs.Duration("every", 2*time.Second, "interval of --watch")
	dlqLast := c.fs.Int64("dlq-scan", 100_000, "count dead letters among the newest N records of each dead-letter partition")
	if code, ok := c.parse(args, e); !ok {
		return code
	}
	if !c.noArgs(e) {
		return exitUsage
	}
	p, ok := c.load(e)
	if !ok {
		return exitUsage
	}
	if *id != "" {
		if _, ok := connector(p, *id, e); !ok {
			return exitUsage
		}
	}
	// Status reads Kafka and asks the services; it writes to no
	// destination.
	if !secrets(p, config.SecretScope{Kafka: true, Admin: true}, e) {
		return exitUsage
	}
	hc, token, scheme, err := adminClient(p)
	if err != nil {
		fmt.Fprintln(e.stderr, "auditctl:", err)
		return exitUsage
	}
	k, code := connect(ctx, p, e)
	if k == nil {
		return code
	}
	defer k.Close()
	o := status.Options{Pipeline: p, Admin: k.adm, Opts: k.opts, HTTP: hc, Token: token, Scheme: scheme, Connector: *id, DLQLast: *dlqLast}
	for {
		r, err := status.Gather(ctx, o)
		if err != nil {
			if ctx.Err() != nil {
				return exitInterrupted
			}
			return kafkaFailed(e.stderr, "status", err, statusACLs(p))
		}
		if *c.json {
			if *watch {
				b, _ := json.Marshal(r) // one line per sample
				fmt.Fprintln(e.stdout, string(b))
			} else {
				writeJSON(e.stdout, r)
			}
		} else {
			if *watch && e.terminal {
				fmt.Fprint(e.stdout, "\033[H\033[2J")
			}
			r.Text(e.stdout)
		}
		if !*watch {
			return statusCode(r)
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(*every):
		}
		if !e.terminal && !*c.json {
			fmt.Fprintln(e.stdout, "---")
		}
	}
}

// statusCode is 1 when a service that answered is not ready.
func statusCode(r *status.Report) int {
	notReady := func(s status.Service) bool { return s.Ready != nil && !*s.Ready }
	if r.Router != nil && notReady(r.Router.Service) {
		return exitProblem
	}
	for _, c := range r.Connectors {
		if notReady(c.Service) {
			return exitProblem
		}
	}
	return exitOK
}

// adminClient reaches the services' admin endpoints as the pipeline's admin
// block says: the HTTP client, the bearer token, the scheme.
func adminClient(p *config.Pipeline) (*http.Client, string, string, error) {
	hc := httpClient()
	scheme := "http"
	tc, err := p.Admin.ClientTLS()
	if err != nil {
		return nil, "", "", err
	}
	if tc != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tc}
		scheme = "https"
	}
	token := ""
	if p.Admin.Token.IsSet() {
		if token, err = p.Admin.Token.Resolve(); err != nil {
			return nil, "", "", fmt.Errorf("admin token: %w", err)
		}
	}
	return hc, token, scheme, nil
}
