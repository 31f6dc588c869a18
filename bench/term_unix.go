//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package bench

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	ok := false
	control(f, func(fd int) {
		_, err := unix.IoctlGetTermios(fd, ioctlReadTermios)
		ok = err == nil
	})
	return ok
}

// TerminalWidth returns f's width in columns, or 0 when f is not a terminal.
func TerminalWidth(f *os.File) int {
	cols := 0
	control(f, func(fd int) {
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			cols = int(ws.Col)
		}
	})
	return cols
}

// control runs fn on f's descriptor without f.Fd's side effect of switching
// the file to blocking mode.
func control(f *os.File, fn func(fd int)) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { fn(int(fd)) })
}
