package bench

import "errors"

// Sentinel errors of package bench; callers test them with errors.Is.
var (
	// ErrOptions reports run, schedule, baseline or limits options that cannot
	// work; the wrapping message says which and what would.
	ErrOptions = errors.New("bench: invalid options")
	// ErrStuck reports load goroutines that did not return within the grace
	// period after the run stopped; the report was taken without waiting.
	ErrStuck = errors.New("bench: load goroutines did not stop")
	// ErrHgrm reports text that is not in HdrHistogram's percentile
	// distribution (.hgrm) format.
	ErrHgrm = errors.New("bench: malformed hgrm")
)
