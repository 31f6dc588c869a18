//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package bench

import "os"

// IsTerminal reports whether f is a terminal; on this platform it says no,
// so no progress line is drawn.
func IsTerminal(f *os.File) bool { return false }

// TerminalWidth returns 0: the width is unknown on this platform.
func TerminalWidth(f *os.File) int { return 0 }
