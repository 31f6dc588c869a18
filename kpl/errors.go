package kpl

import "errors"

// ErrTooLarge is returned (wrapped, with the sizes) by Aggregator.Add for a
// user record that would make an aggregate over the Aggregator's limit even
// on its own. Nothing was added; the caller may put the record unaggregated.
var ErrTooLarge = errors.New("kpl: user record too large to aggregate")
