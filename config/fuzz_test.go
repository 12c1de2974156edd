package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds the loader arbitrary files. It must never panic, every
// error it reports must name the file (and a line where it has one), and a
// file it accepts must load the same way twice: the strict loader is what
// stops a bad config at start, so it is itself checked on bad input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	if b, err := os.ReadFile("../demo/pipeline.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("kafka: {brokers: [a:1]}\nconnectors: [{id: x, type: s3}]\n"))
	f.Add([]byte("kafka:\n  brokers: [a:1]\n  brokers: [b:2]\n"))
	f.Add([]byte("connectors:\n  - &a {id: x}\n  - *a\n"))
	f.Add([]byte("router: {max_event_bytes: 99999999999999999999GiB}\n"))
	f.Add([]byte("\t- ["))
	// Every secret the seeds name resolves, so a seed can load whole.
	for _, k := range []string{"TEST_KAFKA_PASSWORD", "TEST_SALT", "TEST_AK", "TEST_DD_KEY"} {
		f.Setenv(k, "fuzz-secret")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("pipeline.yaml", b, testDests)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse error is not a non-empty Errors: %T %v", err, err)
			}
			for _, e := range es {
				if e.File != "pipeline.yaml" || e.Line < 0 || e.Msg == "" || !strings.HasPrefix(e.Error(), "pipeline.yaml:") {
					t.Fatalf("error without its file and reason: %#v", e)
				}
			}
			return
		}
		if len(p.Kafka.Brokers) == 0 || p.RecordBytes() <= p.SourceRecordBytes() || p.Router.MaxEventBytes <= 0 {
			t.Fatalf("accepted a pipeline without brokers or sizes: %+v", p)
		}
		seen := map[string]bool{}
		for _, c := range p.Connectors {
			if c.ID == "" || seen[c.ID] {
				t.Fatalf("accepted connector id %q twice or empty", c.ID)
			}
			seen[c.ID] = true
		}
		if _, err := Parse("pipeline.yaml", b, testDests); err != nil {
			t.Fatalf("the same file loads once, then fails: %v", err)
		}
	})
}
