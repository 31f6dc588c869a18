//go:build race

package main

// raceEnabled is set under the race detector: the sluice binary the agent
// tests run is then built with -race too.
const raceEnabled = true
