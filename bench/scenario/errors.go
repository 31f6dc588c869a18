package scenario

import "errors"

// Sentinel errors of package scenario; callers test them with errors.Is.
var (
	// ErrUsage reports options a scenario cannot run with; the wrapping
	// message names the flag and says what would work.
	ErrUsage = errors.New("scenario: invalid options")
	// ErrLimits reports a limits run whose shard did not conform to the
	// Kinesis shard limits; the report says which check failed and why.
	ErrLimits = errors.New("scenario: the shard did not conform to the Kinesis shard limits")
)
