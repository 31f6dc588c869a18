package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// progressEntry is one load's part of the progress line.
type progressEntry struct {
	name    string // empty when the run has one load
	records int64  // total so far
	recent  *Stats // over the last progress interval
}

// ProgressOutput returns where a run should draw its progress line: out when
// it is a terminal and the output is not JSON, nil (no progress line)
// otherwise, so that piped and --json output stay clean.
func ProgressOutput(out *os.File, jsonOutput bool) io.Writer {
	if jsonOutput || out == nil || !IsTerminal(out) {
		return nil
	}
	return out
}

// formatProgress renders the progress line, at most width characters when
// width > 0 (a wrapped line could not be redrawn in place).
func formatProgress(elapsed time.Duration, entries []progressEntry, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.1f s", elapsed.Seconds())
	for i, e := range entries {
		if i > 0 {
			b.WriteString("  |")
		}
		if e.name != "" {
			fmt.Fprintf(&b, "  %s:", e.name)
		}
		s := e.recent
		fmt.Fprintf(&b, "  %s rec  %s rec/s  %.2f MB/s  p50 %s µs  p99 %s µs",
			group(e.records), groupf(s.RecordsPerSec), s.MBPerSec, group(s.P50), group(s.P99))
		if s.Errors > 0 || s.Throttled > 0 {
			fmt.Fprintf(&b, "  err %s  thr %s", group(s.Errors), group(s.Throttled))
		}
	}
	line := b.String()
	if width > 0 && utf8.RuneCountInString(line) > width {
		runes := []rune(line)
		line = string(runes[:width])
	}
	return line
}

// drawProgress redraws the progress line in place: carriage return, the
// line, erase to the end of the line.
func drawProgress(w io.Writer, elapsed time.Duration, entries []progressEntry) {
	width := 0
	if f, ok := w.(*os.File); ok {
		if cols := TerminalWidth(f); cols > 1 {
			width = cols - 1 // leave the last column free: some terminals wrap there
		}
	}
	// The progress line is best effort: a failed write must not stop the run.
	_, _ = io.WriteString(w, "\r"+formatProgress(elapsed, entries, width)+"\x1b[K")
}

// clearProgress erases the progress line so that the report starts on a
// clean line.
func clearProgress(w io.Writer) {
	_, _ = io.WriteString(w, "\r\x1b[K")
}
