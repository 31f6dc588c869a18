//go:build race

package agent

// raceEnabled is set under the race detector, whose sync.Pool drops items
// at random: code that reuses pooled objects (regexp's matchers) allocates.
const raceEnabled = true
