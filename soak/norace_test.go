//go:build !race

package soak

// raceEnabled is set when the test runs under the race detector.
const raceEnabled = false
