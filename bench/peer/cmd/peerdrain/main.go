// Command peerdrain times the peer, a Kafka Connect worker with an S3 sink,
// the way bench/internal/drain times Auditstream: it starts the JVM as its
// own child, polls the group's committed offsets until they reach the
// topic's end, reads the JVM's CPU time and peak RSS from /proc at that
// moment, stops it, counts the objects under the prefix and prints one JSON
// line. bench/peer/drain.sh builds the worker and runs this.
//
//	peerdrain run   --topic T --group G --events N --bucket B --prefix P --version V --log L -- java ...
//	peerdrain check --bucket B --prefix P --events N
//
// check reads every object under the prefix, gunzips it and counts its
// lines: it fails unless there are N lines, all distinct.
//
// S3 comes from AUDITSTREAM_S3_ENDPOINT, AUDITSTREAM_S3_ACCESS_KEY_FILE and
// AUDITSTREAM_S3_SECRET_KEY_FILE; Kafka from AUDITSTREAM_BROKERS.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/auditstream/auditstream/bench/internal/cluster"
	"github.com/auditstream/auditstream/bench/internal/drain"
	"github.com/auditstream/auditstream/bench/internal/procstat"
	"github.com/auditstream/auditstream/bench/internal/sink"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peerdrain run|check [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:], os.Stdout)
	case "check":
		err = check(ctx, os.Args[2:], os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "peerdrain: unknown command %q (run or check)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerdrain:", err)
		os.Exit(1)
	}
}

// result is the line drain.sh prints; bench reads it.
type result struct {
	Events       int     `json:"events"`
	Seconds      float64 `json:"seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	Objects      int     `json:"objects"`
	Version      string  `json:"version"`
	// StartupSeconds is when the worker logged "Kafka Connect started"
	// (plugins scanned, REST server up), from its start; 0 if it was not
	// seen. It is part of Seconds.
	StartupSeconds float64 `json:"startup_seconds"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	topic := fs.String("topic", "", "the backlog's topic")
	group := fs.String("group", "", "the consumer group the worker commits as")
	events := fs.Int("events", 0, "events in the backlog (checked against the topic's end offsets)")
	bucket := fs.String("bucket", "", "bucket the objects go to")
	prefix := fs.String("prefix", "", "key prefix of the objects")
	version := fs.String("version", "", "what the peer is, for the result")
	logPath := fs.String("log", "", "where the worker's stdout and stderr go")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: 2 min + 1 s per 2000 events)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if *topic == "" || *group == "" || *events <= 0 || *bucket == "" || *logPath == "" || len(argv) == 0 {
		return errors.New("run needs --topic, --group, --events, --bucket, --log and the command after --")
	}
	if *timeout == 0 {
		*timeout = 2*time.Minute + time.Duration(*events/2000)*time.Second
	}
	brokers := os.Getenv("AUDITSTREAM_BROKERS")
	if brokers == "" {
		return errors.New("AUDITSTREAM_BROKERS is not set")
	}
	store, err := newStore(*bucket)
	if err != nil {
		return err
	}
	// The connector would retry a missing bucket at every flush until the
	// timeout.
	if _, err := store.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(*bucket)}); err != nil {
		return fmt.Errorf("bucket %s: %w", *bucket, err)
	}
	cl, err := cluster.New(strings.Split(brokers, ","), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	end, err := cl.EndOffsets(ctx, *topic)
	if err != nil {
		return err
	}
	// More is allowed: a topic written with transactions has a marker
	// offset after each transaction.
	if n := cluster.Sum(end); n < int64(*events) {
		return fmt.Errorf("topic %s ends at %d offsets in all, fewer than the %d events asked for", *topic, n, *events)
	}

	procs := procstat.NewReader()
	start := time.Now()
	p, err := drain.Start(drain.Child{Argv: argv, Log: *logPath})
	if err != nil {
		return err
	}
	w := watches{
		started: &logWatch{path: *logPath, want: []byte("Kafka Connect started")},
		// A failed task stays failed while the worker runs on: without this
		// the drain would only end at the timeout.
		taskFailed: &logWatch{path: *logPath, want: []byte("will not recover until manually restarted")},
	}
	stat, startup, err := waitDrained(ctx, cl, procs, p, w, *topic, *group, end, start, *timeout)
	elapsed := time.Since(start)
	if errors.Is(err, errExited) {
		return err // nothing left to stop
	}
	if stopErr := stopJVM(p); err == nil && stopErr != nil {
		err = stopErr
	}
	if err != nil {
		return err
	}
	keys, err := store.keys(ctx, *prefix)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(result{
		Events: *events, Seconds: elapsed.Seconds(), CPUSeconds: stat.CPU.Seconds(),
		PeakRSSBytes: stat.PeakRSS, Objects: len(keys), Version: *version, StartupSeconds: startup.Seconds(),
	})
}

// errExited is waitDrained's error when the worker ended on its own.
var errExited = errors.New("the worker exited")

// waitDrained polls the group's committed offsets every 50 ms, as
// drain.Watcher does, and reads the child's resource use once they reach
// end. It also returns when the worker said it had started (0 if unseen).
func waitDrained(ctx context.Context, cl *cluster.Cluster, procs *procstat.Reader, p *drain.Proc, w watches, topic, group string, end map[int32]int64, start time.Time, timeout time.Duration) (procstat.Stat, time.Duration, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	var committed int64
	var startup time.Duration
	for {
		select {
		case <-ctx.Done():
			return procstat.Stat{}, startup, ctx.Err()
		case err := <-p.Exited():
			return procstat.Stat{}, startup, fmt.Errorf("%w: %w", errExited, p.Failed("exited before draining "+topic, err))
		case <-tick.C:
		}
		if startup == 0 && w.started.seen() {
			startup = time.Since(start)
		}
		if w.taskFailed.seen() {
			return procstat.Stat{}, startup, p.Failed("task failed on "+topic, errors.New("the connector's task died"))
		}
		if time.Since(start) > timeout {
			return procstat.Stat{}, startup, p.Failed("did not drain "+topic, fmt.Errorf("committed %d of %d within %v (last offset check: %v; last error logged: %s)",
				committed, cluster.Sum(end), timeout, lastErr, lastLoggedError(w.started.path)))
		}
		offsets, err := cl.Committed(ctx, group, topic)
		if err != nil {
			lastErr = err // the group may not exist yet: try again
			continue
		}
		committed = cluster.Sum(offsets)
		if cluster.Reached(offsets, end) {
			stat, err := procs.Read(p.Pid())
			return stat, startup, err
		}
	}
}

// lastLoggedError returns the worker's last ERROR line and the line after
// it (the exception, when there is one), or "none".
func lastLoggedError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "none"
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "] ERROR ") {
			if i+1 < len(lines) {
				return lines[i] + " / " + lines[i+1]
			}
			return lines[i]
		}
	}
	return "none"
}

// watches are what the drain looks for in the worker's log.
type watches struct {
	started    *logWatch
	taskFailed *logWatch
}

// logWatch looks for a string in a growing log, reading only what was
// added since the last look.
type logWatch struct {
	path  string
	want  []byte
	off   int64
	tail  []byte // the last len(want)-1 bytes read, for a match across reads
	found bool
}

func (w *logWatch) seen() bool {
	if w.found {
		return true
	}
	f, err := os.Open(w.path)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, w.off, 1<<40))
	if err != nil {
		return false
	}
	w.off += int64(len(b))
	buf := append(w.tail, b...)
	w.found = bytes.Contains(buf, w.want)
	if keep := len(w.want) - 1; len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	w.tail = append([]byte(nil), buf...)
	return w.found
}

// stopJVM stops the worker with SIGTERM. The JVM runs Connect's shutdown
// hook and then exits with 143 (128 + SIGTERM), which is a clean stop.
func stopJVM(p *drain.Proc) error {
	err := p.Stop()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 128+int(syscall.SIGTERM) {
		return nil
	}
	if err != nil {
		return p.Failed("stop", err)
	}
	return nil
}

func check(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	bucket := fs.String("bucket", "", "bucket to read")
	prefix := fs.String("prefix", "", "key prefix of the objects")
	events := fs.Int("events", 0, "lines expected")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bucket == "" || *events <= 0 {
		return errors.New("check needs --bucket and --events")
	}
	store, err := newStore(*bucket)
	if err != nil {
		return err
	}
	keys, err := store.keys(ctx, *prefix)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	lines, dup := 0, 0
	for _, k := range keys {
		err := store.eachLine(ctx, k, func(line string) {
			lines++
			if seen[line] {
				dup++
			}
			seen[line] = true
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "objects %d, lines %d, distinct %d, duplicates %d\n", len(keys), lines, len(seen), dup)
	if lines != *events || len(seen) != *events {
		return fmt.Errorf("want %d distinct lines, got %d lines, %d distinct", *events, lines, len(seen))
	}
	return nil
}

// store reads one bucket of the local MinIO.
type store struct {
	bucket string
	client *s3.Client
}

func newStore(bucket string) (*store, error) {
	s, err := sink.S3FromEnv()
	if err != nil {
		return nil, err
	}
	ak, err := readSecret(s.AccessKeyFile)
	if err != nil {
		return nil, err
	}
	sk, err := readSecret(s.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	return &store{bucket: bucket, client: s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
	})}, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read S3 credential: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// keys lists every object under prefix.
func (s *store) keys(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}

// eachLine calls f with every line of a gzip object.
func (s *store) eachLine(ctx context.Context, key string, f func(string)) error {
	obj, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		return fmt.Errorf("gunzip %s: %w", key, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		f(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	return nil
}
