package workload

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Publisher sends chunks with the producer CLI and kcat.
type Publisher struct {
	Producer string // the producer CLI
	Kcat     string
	Brokers  string
	Topic    string
	Dir      string // where chunk files are written
	Log      *os.File
}

// headerGroups is how many groups of events, alike in project, action and
// tenants, a kcat-headers chunk sends with every contract header (kcat takes
// headers per invocation, not per line); the rest of the chunk goes with the
// content-type header alone.
const headerGroups = 6

// Publish sends chunk i: its good events by its method, then its bad records.
func (p Publisher) Publish(ctx context.Context, i int, c Chunk) error {
	var lines [][]byte
	for _, e := range c.Events {
		lines = append(lines, e.line)
	}
	name := func(what string) string { return filepath.Join(p.Dir, fmt.Sprintf("chunk-%03d-%s", i, what)) }
	switch c.Method {
	case ProducerProtobuf, ProducerJSON:
		enc := "protobuf"
		if c.Method == ProducerJSON {
			enc = "json"
		}
		f := name("events.ndjson")
		if err := writeLines(f, lines); err != nil {
			return err
		}
		if err := p.run(ctx, p.Producer, "publish", "--quiet", "--brokers", p.Brokers, "--topic", p.Topic, "--encoding", enc, f); err != nil {
			return err
		}
	case KcatBare:
		if err := p.kcat(ctx, name("events.ndjson"), lines, false, nil); err != nil {
			return err
		}
	case KcatHeaders:
		groups := map[string][]Event{}
		for _, e := range c.Events {
			k := e.Meta.Project + "\x00" + e.Meta.Action + "\x00" + strings.Join(e.Meta.Tenants, "\x00")
			groups[k] = append(groups[k], e)
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(len(groups[b]), len(groups[a])), strings.Compare(a, b))
		})
		var rest [][]byte
		for n, k := range keys {
			g := groups[k]
			if n >= headerGroups {
				for _, e := range g {
					rest = append(rest, e.line)
				}
				continue
			}
			hs := []string{"content-type=application/json", "project=" + g[0].Meta.Project, "action=" + g[0].Meta.Action}
			for _, t := range g[0].Meta.Tenants {
				hs = append(hs, "tenant="+t)
			}
			var ls [][]byte
			for _, e := range g {
				ls = append(ls, e.line)
			}
			if err := p.kcat(ctx, name(fmt.Sprintf("group-%d.ndjson", n)), ls, false, hs); err != nil {
				return err
			}
		}
		if len(rest) > 0 {
			if err := p.kcat(ctx, name("rest.ndjson"), rest, false, []string{"content-type=application/json"}); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown method %q", c.Method)
	}
	// Bad records go one kcat per header set: kcat's headers are per run.
	byHeaders := map[string][][]byte{}
	var order []string
	for _, b := range c.Bad {
		k := strings.Join(b.headers, "\n")
		if _, ok := byHeaders[k]; !ok {
			order = append(order, k)
		}
		byHeaders[k] = append(byHeaders[k], append(append([]byte(b.Key), '\t'), b.value...))
	}
	for n, k := range order {
		var hs []string
		if k != "" {
			hs = strings.Split(k, "\n")
		}
		if err := p.kcat(ctx, name(fmt.Sprintf("bad-%d", n)), byHeaders[k], true, hs); err != nil {
			return err
		}
	}
	return nil
}

func (p Publisher) kcat(ctx context.Context, file string, lines [][]byte, keyed bool, headers []string) error {
	if err := writeLines(file, lines); err != nil {
		return err
	}
	args := []string{"-P", "-b", p.Brokers, "-t", p.Topic, "-l", "-X", "enable.idempotence=true"}
	if keyed {
		// Bad records are compressed: an oversize record is one the broker
		// accepts compressed and the router finds too large uncompressed.
		// kcat checks a message's uncompressed size against its own
		// message.max.bytes (1,000,000 by default): raise it.
		args = append(args, "-K", "\t", "-z", "gzip", "-X", "message.max.bytes=4000000")
	}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	return p.run(ctx, p.Kcat, append(args, file)...)
}

func (p Publisher) run(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stdout = p.Log
	cmd.Stderr = &stderr
	err := cmd.Run()
	if p.Log != nil {
		p.Log.Write(stderr.Bytes())
	}
	// kcat reports a failed delivery on stderr and may still exit 0.
	if err == nil && filepath.Base(bin) == "kcat" && bytes.Contains(stderr.Bytes(), []byte("% ERROR")) {
		err = fmt.Errorf("reported an error")
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args[:min(len(args), 2)], " "), err, lastLine(stderr.Bytes()))
	}
	return nil
}

func writeLines(path string, lines [][]byte) error {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}
