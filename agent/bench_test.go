package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// discardDest acknowledges every record without keeping it.
type discardDest struct{}

func (discardDest) PutRecords(_ context.Context, _ string, recs []Record, results []error) error {
	clear(results[:len(recs)])
	return nil
}
func (discardDest) Close() error { return nil }

// BenchmarkOnce measures the agent's own cost per line: reading a
// pre-written file of Apache combined log lines, splitting, processing,
// keying and batching, into a destination that acknowledges at once (the
// server's side is measured by `sluice agent --once` against sluiced, in
// docs/agent.md).
func BenchmarkOnce(b *testing.B) {
	const lines = 200_000
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	size := 0
	for i := range lines {
		n, _ := fmt.Fprintf(w, "10.%d.%d.%d - - [03/Dec/2026:14:31:32 +0000] \"GET /api/v1/items?id=%d HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n",
			i%256, i/256%256, i/65536, i, i%99999)
		size += n
	}
	w.Flush()
	f.Close()
	for _, tc := range []struct {
		name string
		opts []ProcessingOption
	}{
		{"processing=none", nil},
		{"processing=LOGTOJSON", []ProcessingOption{{OptionName: OptLogToJSON, LogFormat: FormatCombinedApache}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var elapsed time.Duration
			for b.Loop() {
				cfg := &Config{CheckpointFile: filepath.Join(b.TempDir(), "ck"),
					Flows: []Flow{{FilePattern: filepath.Join(dir, "*.log"), Stream: "s", DataProcessingOptions: tc.opts}}}
				if err := cfg.validate(); err != nil {
					b.Fatal(err)
				}
				a, err := New(Options{Config: cfg, Destination: discardDest{}, Once: true, ProgressInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := a.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				if st := a.Stats()[0]; st.Sent != lines {
					b.Fatalf("sent %d of %d", st.Sent, lines)
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
		})
	}
}
