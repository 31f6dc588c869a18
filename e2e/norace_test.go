//go:build !race

package e2e

// raceEnabled is set when the test runs under the race detector.
const raceEnabled = false
