//go:build !race

package kinesis

// raceEnabled is set when the tests run under the race detector.
const raceEnabled = false
