// Package progress draws the progress line of the operator's long commands
// (cmctl run --in-process, cmctl plan, cmctl redrive-dlq) and the bench: on
// a terminal, one line redrawn in place a few times a second; otherwise
// (a pipe, a CI log), a plain line at a steady interval, so a log shows
// the work advancing without carriage returns or escape codes in it.
//
// golang.org/x/term tells a terminal (and its width) from anything else.
// The progress-bar libraries (schollz/progressbar, vbauerster/mpb) draw a
// bar towards a known total and redraw it with carriage returns whatever
// the output is; this line is a handful of counters whose total is often
// unknown (a Marketo list has none), and must stay readable in a log.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Mode says how the line is drawn.
type Mode int

const (
	Auto     Mode = iota // a terminal redraws, anything else gets plain lines
	Terminal             // redraw in place
	Plain                // plain lines
)

// Options tune Start.
type Options struct {
	Mode Mode
	// Every is the interval of plain lines (default 10 s); a terminal is
	// redrawn every 200 ms.
	Every time.Duration
}

// isTerminal reports whether w is a terminal, and its width (0 unknown).
func isTerminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		width = 0
	}
	return true, width
}

// Start shows line() on w until stop is called; stop clears a terminal's
// line and returns once nothing more is written.
func Start(w io.Writer, o Options, line func() string) (stop func()) {
	tty, width := isTerminal(w)
	switch o.Mode {
	case Terminal:
		tty = true
	case Plain:
		tty = false
	}
	every := o.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	if tty {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case <-t.C:
				s := line()
				if tty {
					fmt.Fprint(w, "\r\x1b[K"+fit(s, width))
				} else {
					fmt.Fprintln(w, s)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// fit cuts s to a terminal of width columns (0: as it is).
func fit(s string, width int) string {
	r := []rune(s)
	if width <= 1 || len(r) < width {
		return s
	}
	return string(r[:width-2]) + "…"
}

// JobLine is the progress line of a job run or plan.
func JobLine(label string, s jobs.ProgressSnapshot) string {
	var b strings.Builder
	b.WriteString(label)
	b.WriteString(": ")
	if s.Total > 0 {
		fmt.Fprintf(&b, "read %d/%d", s.Read, s.Total)
	} else {
		fmt.Fprintf(&b, "read %d", s.Read)
	}
	fmt.Fprintf(&b, " · done %d · sent %d", s.Done, s.Sent)
	if s.Failed > 0 {
		fmt.Fprintf(&b, " · failed %d", s.Failed)
	}
	fmt.Fprintf(&b, " · Marketo %d calls", s.MarketoCalls)
	if s.MarketoDaily > 0 {
		fmt.Fprintf(&b, " (daily share %d)", s.MarketoDaily)
	}
	fmt.Fprintf(&b, " · Certain %d · %s elapsed", s.CertainCalls, clock(s.Elapsed))
	if s.Left > 0 {
		fmt.Fprintf(&b, " · ~%s left", clock(s.Left))
	}
	return b.String()
}

// clock prints a duration as m:ss (h:mm:ss past an hour).
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// MoveLine is the progress line of moving messages (redrive-dlq): received
// and moved so far of about total (0: unknown), with an estimate of the
// time left.
func MoveLine(label string, received, moved, failed, total int, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: received %d", label, received)
	if total > 0 {
		fmt.Fprintf(&b, " of ~%d", total)
	}
	fmt.Fprintf(&b, " · moved %d", moved)
	if failed > 0 {
		fmt.Fprintf(&b, " · failed %d", failed)
	}
	fmt.Fprintf(&b, " · %s elapsed", clock(elapsed))
	if total > received && received > 0 {
		fmt.Fprintf(&b, " · ~%s left", clock(time.Duration(float64(elapsed)*float64(total-received)/float64(received))))
	}
	return b.String()
}
