package bench

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// knownHistogram holds 1..1000 µs once each (exact at 3 digits).
func knownHistogram() *Stats {
	r := NewRecorder()
	for v := 1; v <= 1000; v++ {
		r.Record(time.Duration(v)*time.Microsecond, 1, 1)
	}
	return Collect(time.Second, r)
}

// TestHgrm_RoundTrip writes a known distribution, checks its first lines
// against the .hgrm layout, and parses it back to the same percentiles.
func TestHgrm_RoundTrip(t *testing.T) {
	s := knownHistogram()
	var buf bytes.Buffer
	if err := WriteHgrm(&buf, s.Histogram()); err != nil {
		t.Fatal(err)
	}

	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	var first []string
	for i := 0; i < 3 && sc.Scan(); i++ {
		first = append(first, sc.Text())
	}
	if f := strings.Fields(first[0]); len(f) != 4 || f[0] != "Value" || f[1] != "Percentile" || f[2] != "TotalCount" || f[3] != "1/(1-Percentile)" {
		t.Errorf("header %q, want Value Percentile TotalCount 1/(1-Percentile)", first[0])
	}
	if first[1] != "" {
		t.Errorf("second line %q, want blank", first[1])
	}
	if want := "       0.001 0.000000000000          1           1.00"; first[2] != want {
		t.Errorf("first row %q, want %q", first[2], want)
	}

	h, err := ParseHgrm(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{50, 90} {
		// Rows fall at 0, 10, ... 50, 55 ... %: 50 and 90 % are rows.
		want := float64(s.Histogram().ValueAtPercentile(p)) / 1000
		if got := h.ValueAt(p); got != want {
			t.Errorf("p%v = %v ms, want %v", p, got, want)
		}
	}
	last := h.Rows[len(h.Rows)-1]
	if last.Percentile != 1 || last.Value != 1.0 || last.TotalCount != 1000 {
		t.Errorf("last row %+v, want 100 %% at 1.000 ms, count 1000", last)
	}
	if h.TotalCount != 1000 || h.Max != 1.0 || math.Abs(h.Mean-0.5005) > 0.001 {
		t.Errorf("footer total %d, max %v, mean %v; want 1000, 1.000, 0.5005", h.TotalCount, h.Max, h.Mean)
	}
}

// TestHgrm_Geometry checks the bucket arithmetic against HdrHistogram's own
// for the package's geometry: 2048 sub-buckets, 16 buckets to reach 60 s.
func TestHgrm_Geometry(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHgrm(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if want := "#[Buckets =           16, SubBuckets     =         2048]"; !strings.Contains(buf.String(), want) {
		t.Errorf("footer lacks %q:\n%s", want, buf.String())
	}
	if _, err := ParseHgrm(&buf); err != nil {
		t.Errorf("empty histogram's hgrm does not parse: %v", err)
	}
}

// TestParseHgrm_Errors checks that malformed texts give a positioned error.
func TestParseHgrm_Errors(t *testing.T) {
	cases := map[string]struct {
		text string
		line int
	}{
		"too few fields":       {"       Value     Percentile TotalCount 1/(1-Percentile)\n\n 1.0 0.5\n", 3},
		"percentile over 1":    {" 1.0 1.5 10 2.0\n", 1},
		"negative value":       {" -1.0 0.5 10 2.0\n", 1},
		"count not integer":    {" 1.0 0.5 ten 2.0\n", 1},
		"going backwards":      {" 2.0 0.5 10 2.0\n 1.0 0.6 11 2.5\n", 2},
		"NaN value":            {" NaN 0.5 10 2.0\n", 1},
		"footer without value": {" 1.0 1.0 10\n#[Mean    = , StdDeviation = 1]\n", 2},
		"footer unterminated":  {"#[Mean    = 1.0, StdDeviation = 1\n", 1},
	}
	for name, c := range cases {
		_, err := ParseHgrm(strings.NewReader(c.text))
		var he *HgrmError
		if !errors.As(err, &he) || !errors.Is(err, ErrHgrm) {
			t.Errorf("%s: err = %v, want an *HgrmError", name, err)
			continue
		}
		if he.Line != c.line {
			t.Errorf("%s: error at line %d, want %d (%v)", name, he.Line, c.line, err)
		}
	}
}

// FuzzParseHgrm: any text either parses into rows that never go backwards,
// with finite values and percentiles in [0, 1], or gives an *HgrmError;
// it never panics.
func FuzzParseHgrm(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteHgrm(&buf, knownHistogram().Histogram())
	f.Add(buf.String())
	f.Add("")
	f.Add("       Value     Percentile TotalCount 1/(1-Percentile)\n\n       0.100 0.500000000000          5           2.00\n")
	f.Add(" 1.0 1.0 10\n#[Max     =        1.000, Total count    =           10]\n")
	f.Add("# comment\n 1e3 0.9 7 10\n 1e3 0.99 8 inf\n")
	f.Fuzz(func(t *testing.T, text string) {
		h, err := ParseHgrm(strings.NewReader(text))
		if err != nil {
			var he *HgrmError
			if !errors.As(err, &he) || he.Line < 1 {
				t.Fatalf("error %v is not a positioned *HgrmError", err)
			}
			return
		}
		for i, r := range h.Rows {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 || !(r.Percentile >= 0 && r.Percentile <= 1) || r.TotalCount < 0 {
				t.Fatalf("row %d out of range: %+v", i, r)
			}
			if i > 0 {
				p := h.Rows[i-1]
				if r.Value < p.Value || r.Percentile < p.Percentile || r.TotalCount < p.TotalCount {
					t.Fatalf("row %d goes backwards: %+v after %+v", i, r, p)
				}
			}
		}
		_ = h.ValueAt(99)
	})
}
