package sink

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/auditstream/auditstream/bench/internal/report"
)

// gzipLine is one result line of the S3 sink's BenchmarkGzip
// (sinks/internal/s3sink/gzip_bench_test.go), as `go test -bench` prints
// it: name, iterations, then value-unit pairs.
var gzipLine = regexp.MustCompile(`^BenchmarkGzip/(\w+)/level=(\d+)(?:-\d+)?\s+\d+\s+(.*)$`)

// gzipResult is one library at one level.
type gzipResult struct {
	mbps  float64 // MB/s of uncompressed input
	ratio float64 // input/output
}

// Compressor reads the output of the S3 sink's BenchmarkGzip, which
// compresses a realistic object with the standard library's gzip and with
// klauspost/compress's at several levels, into scenario 8: klauspost
// against the standard library at each level, speed and size. encoder is
// the S3 sink's encode.go, which says what it uses; "" leaves that out.
func Compressor(bench io.Reader, encoder string) (report.Result, error) {
	res := report.Result{Scenario: S3CompressorScenario, Params: map[string]any{}}
	got := map[string]map[int]gzipResult{}
	sc := bufio.NewScanner(bench)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") || strings.HasPrefix(line, "cpu:") {
			k, v, _ := strings.Cut(line, ":")
			res.Params[k] = strings.TrimSpace(v)
			continue
		}
		m := gzipLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		level, _ := strconv.Atoi(m[2])
		var r gzipResult
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return res, fmt.Errorf("benchmark line %q: %w", line, err)
			}
			switch f[i+1] {
			case "MB/s":
				r.mbps = v
			case "ratio":
				r.ratio = v
			}
		}
		if got[m[1]] == nil {
			got[m[1]] = map[int]gzipResult{}
		}
		got[m[1]][level] = r
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read benchmark output: %w", err)
	}
	std, kp := got["stdlib"], got["klauspost"]
	var levels []int
	for l := range kp {
		if _, ok := std[l]; ok {
			levels = append(levels, l)
		}
	}
	if len(levels) == 0 {
		return res, fmt.Errorf("no BenchmarkGzip results for both stdlib and klauspost in the benchmark output")
	}
	slices.Sort(levels)
	for _, l := range levels {
		f := report.Compare(fmt.Sprintf("klauspost gzip level %d, speed", l), "MB/s", kp[l].mbps, std[l].mbps, fmt.Sprintf("stdlib gzip level %d", l), nil)
		f.Headline = l == 6
		res.Figures = append(res.Figures, f)
	}
	for _, l := range levels {
		res.Figures = append(res.Figures, report.Compare(fmt.Sprintf("klauspost gzip level %d, size ratio", l), "x", kp[l].ratio, std[l].ratio, fmt.Sprintf("stdlib gzip level %d", l), nil))
	}
	res.Differences = []string{
		"BenchmarkGzip in sinks/internal/s3sink: one object of 2000 loadgen events with request details (about 700 bytes of JSON each) as NDJSON, compressed whole, on one goroutine; speed is MB/s of uncompressed input, size ratio is input/output (higher is smaller)",
	}
	if encoder != "" {
		res.Notes = append(res.Notes, "the S3 sink uses: "+chosen(encoder))
	}
	return res, nil
}

// chosen says which gzip and level the S3 sink's encoder uses, from its
// source: the import and the gzipLevel constant.
func chosen(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	src := string(b)
	lib := "unknown gzip"
	switch {
	case strings.Contains(src, `"github.com/klauspost/compress/gzip"`):
		lib = "klauspost/compress gzip"
	case strings.Contains(src, `"compress/gzip"`):
		lib = "the standard library's gzip"
	}
	level := "an unknown level"
	if m := regexp.MustCompile(`gzipLevel\s*=\s*(\S+)`).FindStringSubmatch(src); m != nil {
		level = "level " + m[1]
	}
	return fmt.Sprintf("%s at %s (%s)", lib, level, path)
}
