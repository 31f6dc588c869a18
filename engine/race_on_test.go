//go:build race

package engine

// raceEnabled is set when the tests run under the race detector, which
// slows the many-shards tests several times over.
const raceEnabled = true
