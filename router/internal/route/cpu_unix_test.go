//go:build unix

package route

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU adds cpu-ns/op to a benchmark: the process's CPU time (user and
// system, garbage collection included) per operation. On a shared machine it
// varies much less than wall time, which counts the time spent descheduled.
// Call it before the loop; it reports when the benchmark ends.
func reportCPU(b *testing.B) {
	start := processCPU()
	b.Cleanup(func() { b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op") })
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
