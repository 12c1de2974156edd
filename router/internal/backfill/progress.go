package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// bar draws progress with an ETA on a writer (stderr): redrawn in place on
// a terminal, one line every few seconds otherwise (logs, CI).
type bar struct {
	w        io.Writer
	terminal bool
	total    int64
	now      func() time.Time
	start    time.Time
	last     time.Time
	every    time.Duration
}

func newBar(w io.Writer, terminal bool, total int64, now func() time.Time) *bar {
	every := 5 * time.Second
	if terminal {
		every = 200 * time.Millisecond
	}
	t := now()
	return &bar{w: w, terminal: terminal, total: total, now: now, start: t, every: every}
}

// update shows done of total, at most once per interval.
func (b *bar) update(done int64) {
	if b == nil || b.w == nil {
		return
	}
	t := b.now()
	if t.Sub(b.last) < b.every {
		return
	}
	b.last = t
	b.draw(done, t)
}

// finish shows the last state and ends the line.
func (b *bar) finish(done int64) {
	if b == nil || b.w == nil {
		return
	}
	b.draw(done, b.now())
	if b.terminal {
		fmt.Fprintln(b.w)
	}
}

func (b *bar) draw(done int64, t time.Time) {
	line := render(done, b.total, t.Sub(b.start))
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// render is one line of progress: a bar, the share done, the offsets, the
// rate and the time left at that rate.
func render(done, total int64, elapsed time.Duration) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	eta := "ETA --"
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	switch {
	case done >= total:
		eta = "done in " + elapsed.Round(time.Second).String()
	case rate > 0 && elapsed >= time.Second: // the first moments' rate says little
		eta = "ETA " + time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("backfill [%s] %3.0f%% %d/%d offsets %.0f/s %s", bar, frac*100, done, total, rate, eta)
}
