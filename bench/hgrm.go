package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The .hgrm text format is HdrHistogram's percentile distribution
// (Java's outputPercentileDistribution), which HdrHistogram's plotter and
// wrk2 read. This package writes values in milliseconds, as they do; three
// decimals hold a microsecond histogram exactly.
//
//	       Value     Percentile TotalCount 1/(1-Percentile)
//
//	       0.120 0.000000000000          1           1.00
//	       ...
//	      12.345 1.000000000000      10000
//	#[Mean    =        0.456, StdDeviation   =        0.789]
//	#[Max     =       12.345, Total count    =        10000]
//	#[Buckets =           16, SubBuckets     =         2048]
const (
	// hgrmTicksPerHalfDistance is the number of rows per halving of the
	// distance to 100 %: HdrHistogram's default of 5.
	hgrmTicksPerHalfDistance = 5
	// hgrmScale turns the histogram's microseconds into the file's milliseconds.
	hgrmScale = 1000.0
)

// WriteHgrm writes the percentile distribution of a latency histogram in
// microseconds (as NewHistogram makes) in HdrHistogram's .hgrm text format,
// values in milliseconds. A nil histogram is written as an empty one.
func WriteHgrm(w io.Writer, h *hdrhistogram.Histogram) error {
	if h == nil {
		h = NewHistogram()
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	for _, br := range h.CumulativeDistributionWithTicks(hgrmTicksPerHalfDistance) {
		p := br.Quantile / 100
		v := float64(br.ValueAt) / hgrmScale
		if p >= 1 {
			fmt.Fprintf(bw, "%12.3f %2.12f %10d\n", v, 1.0, br.Count)
			continue
		}
		fmt.Fprintf(bw, "%12.3f %2.12f %10d %14.2f\n", v, p, br.Count, 1/(1-p))
	}
	buckets, subBuckets := hdrGeometry(h)
	fmt.Fprintf(bw, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h.Mean()/hgrmScale, h.StdDev()/hgrmScale)
	fmt.Fprintf(bw, "#[Max     = %12.3f, Total count    = %12d]\n", float64(h.Max())/hgrmScale, h.TotalCount())
	fmt.Fprintf(bw, "#[Buckets = %12d, SubBuckets     = %12d]\n", buckets, subBuckets)
	return bw.Flush()
}

// hdrGeometry computes a histogram's bucket and sub-bucket counts (which the
// library does not export) from its range and precision, as HdrHistogram
// does: 2^ceil(log2(2×10^digits)) sub-buckets, and buckets doubling from
// there until they cover the highest trackable value.
func hdrGeometry(h *hdrhistogram.Histogram) (buckets, subBuckets int64) {
	largest := 2 * int64(math.Pow10(int(h.SignificantFigures())))
	subBuckets = 1 << bits.Len64(uint64(largest-1))
	unit := bits.Len64(uint64(h.LowestTrackableValue())) - 1
	smallestUntrackable := subBuckets << unit
	buckets = 1
	for smallestUntrackable <= h.HighestTrackableValue() {
		if smallestUntrackable > math.MaxInt64/2 {
			buckets++
			break
		}
		smallestUntrackable <<= 1
		buckets++
	}
	return buckets, subBuckets
}

// HgrmRow is one row of a .hgrm file.
type HgrmRow struct {
	// Value is the latency at or below which Percentile of the values lie,
	// in the file's unit (milliseconds for files this package writes).
	Value float64
	// Percentile is a fraction in [0, 1].
	Percentile float64
	// TotalCount is the number of values at or below Value.
	TotalCount int64
}

// Hgrm is a parsed .hgrm file.
type Hgrm struct {
	// Rows are in file order: Value, Percentile and TotalCount never decrease.
	Rows []HgrmRow
	// Mean, StdDev, Max and TotalCount come from the footer, when there is one.
	Mean, StdDev, Max float64
	TotalCount        int64
}

// ValueAt returns the value of the first row at or above the percentile
// (0..100), or the last row's when none is, or 0 for no rows.
func (h *Hgrm) ValueAt(percentile float64) float64 {
	for _, r := range h.Rows {
		if r.Percentile*100 >= percentile {
			return r.Value
		}
	}
	if len(h.Rows) == 0 {
		return 0
	}
	return h.Rows[len(h.Rows)-1].Value
}

// HgrmError reports where a .hgrm text is malformed; it wraps ErrHgrm.
type HgrmError struct {
	Line int // 1-based
	Msg  string
}

// Error says where and what.
func (e *HgrmError) Error() string { return fmt.Sprintf("%v: line %d: %s", ErrHgrm, e.Line, e.Msg) }

// Unwrap returns ErrHgrm.
func (e *HgrmError) Unwrap() error { return ErrHgrm }

// ParseHgrm reads a percentile distribution in HdrHistogram's .hgrm format:
// the column header, rows of value, percentile, total count and (except for
// the 100 % row) 1/(1-percentile), and the "#[...]" footer. Other lines that
// start with '#' are comments. A malformed text gives an *HgrmError.
func ParseHgrm(r io.Reader) (*Hgrm, error) {
	sc := bufio.NewScanner(r)
	out := &Hgrm{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "":
			continue
		case strings.HasPrefix(text, "#["):
			if err := parseHgrmFooter(out, text); err != nil {
				return nil, &HgrmError{Line: line, Msg: err.Error()}
			}
			continue
		case text[0] == '#':
			continue
		}
		fields := strings.Fields(text)
		if fields[0] == "Value" {
			continue // the column header
		}
		row, err := parseHgrmRow(fields)
		if err != nil {
			return nil, &HgrmError{Line: line, Msg: err.Error()}
		}
		if n := len(out.Rows); n > 0 {
			prev := out.Rows[n-1]
			if row.Value < prev.Value || row.Percentile < prev.Percentile || row.TotalCount < prev.TotalCount {
				return nil, &HgrmError{Line: line, Msg: "row goes below the one before; value, percentile and count must not decrease"}
			}
		}
		out.Rows = append(out.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, &HgrmError{Line: line + 1, Msg: err.Error()}
	}
	return out, nil
}

func parseHgrmRow(fields []string) (HgrmRow, error) {
	if len(fields) != 3 && len(fields) != 4 {
		return HgrmRow{}, fmt.Errorf("row has %d fields; want value, percentile, total count and 1/(1-percentile)", len(fields))
	}
	v, err := finite(fields[0])
	if err != nil || v < 0 {
		return HgrmRow{}, fmt.Errorf("value %q is not a non-negative number", fields[0])
	}
	p, err := finite(fields[1])
	if err != nil || p < 0 || p > 1 {
		return HgrmRow{}, fmt.Errorf("percentile %q is not a fraction between 0 and 1", fields[1])
	}
	n, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || n < 0 {
		return HgrmRow{}, fmt.Errorf("total count %q is not a non-negative integer", fields[2])
	}
	if len(fields) == 4 {
		if inv := strings.ToLower(fields[3]); inv != "inf" && inv != "infinity" {
			if _, err := finite(fields[3]); err != nil {
				return HgrmRow{}, fmt.Errorf("1/(1-percentile) %q is not a number", fields[3])
			}
		}
	}
	return HgrmRow{Value: v, Percentile: p, TotalCount: n}, nil
}

func parseHgrmFooter(out *Hgrm, text string) error {
	body, ok := strings.CutPrefix(text, "#[")
	if body, ok = strings.CutSuffix(body, "]"); !ok {
		return fmt.Errorf("footer line does not end in ']'")
	}
	for _, part := range strings.Split(body, ",") {
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("footer entry %q is not 'name = value'", strings.TrimSpace(part))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		f, err := finite(val)
		if err != nil {
			return fmt.Errorf("footer %s %q is not a number", key, val)
		}
		switch key {
		case "Mean":
			out.Mean = f
		case "StdDeviation":
			out.StdDev = f
		case "Max":
			out.Max = f
		case "Total count":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("footer total count %q is not a non-negative integer", val)
			}
			out.TotalCount = n
		}
	}
	return nil
}

// finite parses a float and rejects NaN and infinities.
func finite(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not finite", s)
	}
	return f, nil
}
