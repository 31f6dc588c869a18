//go:build !race

package kinesis

// raceEnabled is set when the test runs under the race detector.
const raceEnabled = false
