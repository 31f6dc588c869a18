package faultnet

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// SeedEnv names the environment variable that fixes the seed of every test
// that takes its seed from TestSeed, to rerun a failure.
const SeedEnv = "FAULTNET_SEED"

// TestSeed returns the seed for a randomized test: $FAULTNET_SEED when set,
// else the clock. It logs the seed, and again with how to rerun it if the
// test fails.
func TestSeed(tb testing.TB) int64 {
	tb.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q is not an integer seed", SeedEnv, s)
		}
		seed = v
	}
	tb.Logf("seed %d", seed)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("failed with seed %d; rerun with %s=%d", seed, SeedEnv, seed)
		}
	})
	return seed
}
