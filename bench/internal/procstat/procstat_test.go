package procstat

import (
	"os"
	"testing"
	"time"
)

// TestReadSelf reads this test's own process: some CPU spent, and a peak
// RSS of at least the buffer it touches.
func TestReadSelf(t *testing.T) {
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a few clock ticks
	}
	st, err := NewReader().Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU <= 0 {
		t.Errorf("cpu: got %v, want > 0", st.CPU)
	}
	if st.PeakRSS < int64(len(buf)) {
		t.Errorf("peak rss: got %d, want >= %d", st.PeakRSS, len(buf))
	}
	if buf[len(buf)-1] != byte(len(buf)-1) {
		t.Fatal("buffer changed")
	}
}
