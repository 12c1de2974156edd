package main

import (
	"fmt"
)

const validateHelp = `auditctl validate [--secrets=false]

Checks the whole pipeline file, as no single service does: Kafka, topics,
router, and every connector's filter, redaction and destination block
(each checked by the sink package that delivers to it), then resolves
every secret the file references. Each problem is reported as
file:line: reason, never with a secret's value. The router and each sink
check, at start, only their own parts and secrets; run this before
deploying a file.

--secrets=false skips resolving the secrets, for a machine that does not
hold them (CI).

Example:
  auditctl validate --config pipeline.yaml
`

func validateCmd(args []string, e env) int {
	c := newCommand("validate", validateHelp, e)
	resolve := c.fs.Bool("secrets", true, "resolve every secret the file references")
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
	if *resolve {
		if err := p.CheckSecrets(p.AllSecrets()); err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitUsage
		}
	}
	what := "every part and every secret"
	if !*resolve {
		what = "every part; secrets not resolved"
	}
	fmt.Fprintf(e.stdout, "%s: ok (%s; %d connectors)\n", p.Path, what, len(p.Connectors))
	return exitOK
}
