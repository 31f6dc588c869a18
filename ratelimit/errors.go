package ratelimit

import "errors"

// ErrInvalidLimit is returned (wrapped, with the offending field and value)
// when a rate or burst is negative. Zero means unlimited; anything else must
// be positive.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// ErrUnknownPreset is returned (wrapped, with the name) by Preset for a name
// other than "kinesis" or "unlimited".
var ErrUnknownPreset = errors.New("ratelimit: unknown quota preset")
