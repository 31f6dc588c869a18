//go:build race

package kinesis

// raceEnabled is set when the test runs under the race detector, which
// makes allocation counts wander.
const raceEnabled = true
