//go:build race

package kinesis

// raceEnabled is set when the tests run under the race detector, whose
// sync.Pool drops a share of what is put back: allocation counts then vary
// from run to run by a few.
const raceEnabled = true
