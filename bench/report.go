package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run. Its JSON form is one object whose top-level
// figures are those of the run's first (primary) load: records_per_sec,
// mb_per_sec (MB = 10^6 bytes), p50_us, p90_us, p99_us, p999_us, max_us,
// errors, throttled and the rest of Stats, beside the scenario, parameters,
// how the run stopped, every load's figures when there are several, and the
// baseline, ratios and limits checks when the caller added them.
type Report struct {
	Scenario   string         `json:"scenario"`
	Parameters map[string]any `json:"parameters,omitempty"`
	// Load names the primary load whose figures are the top-level ones.
	Load string `json:"load"`
	// Start is when the load goroutines were started.
	Start time.Time `json:"start"`
	// Duration is from Start until the goroutines returned (duration_s).
	Duration time.Duration `json:"-"`
	// Warmup is how long the loads ran before Start without being measured
	// (RunOptions.Warmup).
	Warmup time.Duration `json:"-"`
	// StoppedBy says why the run ended: one of the Stop constants.
	StoppedBy string `json:"stopped_by"`

	// Stats are the primary load's figures.
	Stats

	// Loads holds every load's figures by name when the run had more than one.
	Loads map[string]*Stats `json:"loads,omitempty"`
	// Baseline is the machine measured in the same run (AddBaseline).
	Baseline *Baseline `json:"baseline,omitempty"`
	// Ratios are figures divided by other figures, by name (AddRatio,
	// AddBaseline): "p50_vs_fsync_p50" is p50_us / baseline fsync p50.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	// Limits is the Kinesis shard-limit conformance of a limits run.
	Limits *LimitsResult `json:"limits,omitempty"`

	loadOrder []string // Loads' names in run order, for the text form
}

// LoadNames returns the names of the run's loads in order, primary first.
func (r *Report) LoadNames() []string {
	if len(r.loadOrder) > 0 {
		return slices.Clone(r.loadOrder)
	}
	names := make([]string, 0, len(r.Loads)+1)
	if r.Load != "" || len(r.Loads) == 0 {
		names = append(names, r.Load)
	}
	rest := make([]string, 0, len(r.Loads))
	for n := range r.Loads {
		if n != r.Load {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// LoadStats returns the figures of the named load (the primary one's when
// name is the report's Load), or nil.
func (r *Report) LoadStats(name string) *Stats {
	if s, ok := r.Loads[name]; ok {
		return s
	}
	if name == r.Load {
		return &r.Stats
	}
	return nil
}

// WriteJSON writes the report as one JSON object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// WriteHgrmFiles writes each load's latency distribution in HdrHistogram's
// .hgrm format: the primary load's to path, any other load's beside it with
// its name added ("run.hgrm" → "run-get.hgrm"). It returns the paths written.
func (r *Report) WriteHgrmFiles(path string) ([]string, error) {
	var paths []string
	for i, name := range r.LoadNames() {
		p := path
		if i > 0 {
			ext := filepath.Ext(path)
			p = strings.TrimSuffix(path, ext) + "-" + name + ext
		}
		if err := writeHgrmFile(p, r.LoadStats(name)); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeHgrmFile(path string, s *Stats) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: write hgrm: %w", err)
	}
	err = WriteHgrm(f, s.Histogram())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: write hgrm %s: %w", path, err)
	}
	return nil
}
