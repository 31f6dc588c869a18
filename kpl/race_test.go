//go:build race

package kpl

// raceEnabled: under the race detector sync.Pool drops a share of what is
// put in it on purpose, so pooled buffers are allocated again now and then.
const raceEnabled = true
