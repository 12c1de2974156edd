package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/conntest"
)

const testHelp = `auditctl test --connector ID [--json]

Proves that the connector's destination accepts a write with the
configured credentials, encryption and lock settings, without touching
any Kafka topic (and without Kafka at all).

  S3: checks the bucket, its Object Lock configuration when the connector
      sets a retention, PUTs a marker object under <prefix>/_connector-test/
      with the connector's storage class, encryption and retention, reads
      it back and compares; then deletes it when allowed.
  Datadog: sends one log tagged auditstream:test, with the connector's
      source, service, hostname and tags; the intake must answer 202.

The verdict names the failing step and the kind of problem: dns, connect,
timeout, tls, auth (credentials refused), permission (IAM or bucket
policy), bucket missing, lock configuration, encryption, rejected,
destination error.

Exit status: 0 passed; 1 failed (credentials, permission, bucket, lock,
encryption, refused); 2 configuration; 3 unreachable (dns, connect,
timeout, tls).

Example:
  auditctl test --config pipeline.yaml --connector s3-archive
`

func testCmd(ctx context.Context, args []string, e env) int {
	c := newCommand("test", testHelp, e)
	id := c.fs.String("connector", "", "the connector to test")
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
	conn, ok := connector(p, *id, e)
	if !ok {
		return exitUsage
	}
	// The test writes to the destination alone: no Kafka.
	if !secrets(p, config.SecretScope{Connectors: []string{conn.ID}}, e) {
		return exitUsage
	}
	v := conntest.Run(ctx, conn, slog.New(slog.DiscardHandler))
	if *c.json {
		writeJSON(e.stdout, v)
	} else {
		fmt.Fprintf(e.stdout, "connector %s (%s)\n", v.Connector, v.Type)
		for _, s := range v.Steps {
			mark := "ok  "
			if !s.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "  %s %s: %s\n", mark, s.Name, s.Detail)
		}
		if v.OK {
			fmt.Fprintln(e.stdout, "PASS: the destination accepts writes with these settings")
		} else {
			fmt.Fprintf(e.stdout, "FAIL at %s (%s): %s\n", v.Failed, v.Problem, v.Message)
		}
	}
	switch {
	case v.OK:
		return exitOK
	case v.Problem == conntest.ProblemConfig:
		return exitUsage
	case v.Problem == conntest.ProblemDNS || v.Problem == conntest.ProblemConnect ||
		v.Problem == conntest.ProblemTimeout || v.Problem == conntest.ProblemTLS:
		return exitUnreachable
	}
	return exitProblem
}
