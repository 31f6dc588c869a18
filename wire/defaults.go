package wire

import "time"

// The options of the client and the server share these rules for filling
// in a documented default.

// DefaultPositive sets *v to def unless *v is positive: for settings whose
// zero or negative value means the default.
func DefaultPositive[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// DefaultZero sets *v to def if *v is its zero value: for settings where a
// negative value means something of its own (such as "disabled").
func DefaultZero[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
