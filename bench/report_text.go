package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as a human-readable table: one row per load,
// then the baseline, the ratios and the limits checks when present.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	warm := ""
	if r.Warmup > 0 {
		warm = fmt.Sprintf(" after a %.2f s warm-up", r.Warmup.Seconds())
	}
	fmt.Fprintf(&b, "scenario    %s, %.2f s%s, stopped by %s\n", orDash(r.Scenario), r.Duration.Seconds(), warm, orDash(r.StoppedBy))
	if len(r.Parameters) > 0 {
		keys := slices.Sorted(maps.Keys(r.Parameters))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, r.Parameters[k])
		}
		fmt.Fprintf(&b, "parameters  %s\n", strings.Join(parts, " "))
	}
	b.WriteByte('\n')

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "load\trecords\trecords/s\tMB/s\trequests\trequests/s\terrors\tthrottled\tp50\tp90\tp99\tp99.9\tmax (µs)")
	for _, name := range r.LoadNames() {
		s := r.LoadStats(name)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			orDash(name), group(s.Records), groupf(s.RecordsPerSec), s.MBPerSec,
			group(s.Requests), groupf(s.RequestsPerSec), group(s.Errors), group(s.Throttled),
			group(s.P50), group(s.P90), group(s.P99), group(s.P999), group(s.Max))
	}
	tw.Flush()
	b.WriteString("MB = 10^6 bytes; rates per second of the run; latency per request.\n")

	if bl := r.Baseline; bl != nil {
		b.WriteString("\nmachine baseline, same run")
		bl.writeText(&b)
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nratios (figure ÷ reference)\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, k := range slices.Sorted(maps.Keys(r.Ratios)) {
			fmt.Fprintf(tw, "  %s\t%.3g\n", k, r.Ratios[k])
		}
		tw.Flush()
	}
	if lr := r.Limits; lr != nil {
		verdict := "FAIL"
		if lr.Pass {
			verdict = "pass"
		}
		fmt.Fprintf(&b, "\nKinesis shard limits, %d shard(s), tolerance ±%.1f%%: %s\n", lr.Shards, lr.Tolerance*100, verdict)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  limit\tquota\texpected\tmeasured\tdeviation\tthrottled\t")
		for _, c := range lr.Checks {
			name := c.Name
			if c.Case != "" {
				name = c.Case + ": " + name
			}
			v := "pass"
			if !c.Pass {
				v = "FAIL: " + c.Reason
			}
			bind := ""
			if c.Binding {
				bind = " (binding)"
			}
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\t%+.1f%%\t%s\t%s\n", name, bind, groupf(c.Quota), groupf(c.Expected),
				groupf(c.Measured), c.Deviation*100, group(c.Throttled), v)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the baseline as a small table.
func (bl *Baseline) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString("machine baseline")
	bl.writeText(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText writes " (file system)" and the figures' rows.
func (bl *Baseline) writeText(b *strings.Builder) {
	fmt.Fprintf(b, " (%s)\n", orDash(bl.Filesystem))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  4 KiB write+fdatasync\tp50 %.1f µs\tp99 %.1f µs\t(%d samples)\n", bl.Fsync4K.P50, bl.Fsync4K.P99, bl.Fsync4K.Samples)
	fmt.Fprintf(tw, "  1 MiB write+fdatasync\t%.1f MB/s\t\t\n", bl.FsyncBatch.MBPerSec)
	for _, c := range bl.ConcurrentSync {
		fmt.Fprintf(tw, "  1 KiB write+fdatasync, %d writer(s) on own files, %s\t%s ops/s\tp50 %.1f µs\tp99 %.1f µs\n",
			c.Files, c.Space, groupf(c.OpsPerSec), c.P50, c.P99)
	}
	fmt.Fprintf(tw, "  loopback TCP stream\t%.1f MB/s\t\t\n", bl.TCPStream.MBPerSec)
	fmt.Fprintf(tw, "  loopback TCP 100 B round trip\tp50 %.1f µs\tp99 %.1f µs\t(%d samples)\n", bl.TCPRoundTrip.P50, bl.TCPRoundTrip.P99, bl.TCPRoundTrip.Samples)
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// group formats n with thousands separators: 1234567 → "1,234,567".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// groupf formats f with thousands separators and one decimal.
func groupf(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil { // beyond int64: leave as is
		return s
	}
	g := group(n)
	if n == 0 && strings.HasPrefix(whole, "-") {
		g = "-0"
	}
	return g + "." + frac
}
