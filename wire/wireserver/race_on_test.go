//go:build race

package wireserver

// raceEnabled is set when the tests run under the race detector, whose
// sync.Pool drops items at random, so pooled paths allocate.
const raceEnabled = true
