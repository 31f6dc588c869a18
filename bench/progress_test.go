package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestFormatProgress checks the content of the progress line for one and
// for several loads, and that it is cut to the terminal's width.
func TestFormatProgress(t *testing.T) {
	recent := NewStats(Counts{Requests: 100, Records: 1000, Bytes: 2_000_000, Throttled: 3}, knownHistogram().Histogram(), time.Second)
	one := formatProgress(12*time.Second, []progressEntry{{records: 123_456, recent: recent}}, 0)
	for _, want := range []string{"12.0 s", "123,456 rec", "1,000.0 rec/s", "2.00 MB/s", "p50 500 µs", "p99 990 µs", "thr 3"} {
		if !strings.Contains(one, want) {
			t.Errorf("line %q lacks %q", one, want)
		}
	}
	two := formatProgress(time.Second, []progressEntry{{name: "put", records: 1, recent: recent}, {name: "get", records: 2, recent: recent}}, 0)
	if !strings.Contains(two, "put:") || !strings.Contains(two, "| ") || !strings.Contains(two, "get:") {
		t.Errorf("line %q; want both loads named", two)
	}
	if cut := formatProgress(time.Second, []progressEntry{{records: 1, recent: recent}}, 40); utf8.RuneCountInString(cut) != 40 {
		t.Errorf("line cut to 40 columns has %d: %q", utf8.RuneCountInString(cut), cut)
	}
}

// TestProgressOutput_Off checks that there is no progress line for JSON
// output or when stdout is not a terminal (a file, a pipe).
func TestProgressOutput_Off(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Errorf("a regular file is taken for a terminal")
	}
	if w := ProgressOutput(f, false); w != nil {
		t.Errorf("ProgressOutput(file) = %v, want nil", w)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if out := ProgressOutput(w, false); out != nil {
		t.Errorf("ProgressOutput(pipe) = %v, want nil", out)
	}
	if TerminalWidth(w) != 0 {
		t.Errorf("a pipe has a width")
	}
	if out := ProgressOutput(os.Stdout, true); out != nil {
		t.Errorf("ProgressOutput with JSON = %v, want nil", out)
	}
}
