//go:build !unix

package engine

// fileLimit is 0: no descriptor limit is known on this platform.
func fileLimit() int { return 0 }
