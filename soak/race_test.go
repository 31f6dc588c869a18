//go:build race

package soak

// raceEnabled is set when the test runs under the race detector: the
// server is then built with -race too, to check it for races under the
// hostile load.
const raceEnabled = true
