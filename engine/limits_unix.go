//go:build unix

package engine

import "golang.org/x/sys/unix"

// fileLimit is the soft RLIMIT_NOFILE, 0 if unknown or unlimited.
func fileLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
