// Package procstat reads a process's CPU time and peak memory from /proc.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Stat is a process's resource use so far.
type Stat struct {
	// CPU is user plus system time (utime+stime of /proc/<pid>/stat).
	CPU time.Duration
	// PeakRSS is the peak resident set size in bytes (VmHWM).
	PeakRSS int64
}

// Reader reads Stats. It knows the kernel's clock tick, the unit of the CPU
// times in /proc/<pid>/stat.
type Reader struct {
	tick time.Duration
}

// NewReader asks getconf for the clock tick (USER_HZ), falling back to 100
// Hz, which is what Linux reports on every common architecture.
func NewReader() *Reader {
	hz := 100
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			hz = n
		}
	}
	return &Reader{tick: time.Second / time.Duration(hz)}
}

// Read returns the resource use of process pid.
func (r *Reader) Read(pid int) (Stat, error) {
	cpu, err := r.CPU(pid)
	if err != nil {
		return Stat{}, err
	}
	rss, err := peakRSS(pid)
	if err != nil {
		return Stat{}, err
	}
	return Stat{CPU: cpu, PeakRSS: rss}, nil
}

// CPU returns the user plus system time of process pid.
func (r *Reader) CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3 // man 5 proc, counting from field 3
	if len(f) <= stime {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range []string{f[utime], f[stime]} {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * r.tick, nil
}

func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM of %d: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
