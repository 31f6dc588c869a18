package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Memory is a process's resident memory as /proc/PID/status reports it, in
// bytes.
type Memory struct {
	Peak int64 // VmHWM: the most the process has ever had resident
	RSS  int64 // VmRSS: resident now
	Anon int64 // RssAnon: resident anonymous memory (the heap, stacks)
	File int64 // RssFile: resident file pages (mapped segments, the binary)
}

func (m Memory) String() string {
	return fmt.Sprintf("peak %s, resident %s (anonymous %s, file %s)", MiB(m.Peak), MiB(m.RSS), MiB(m.Anon), MiB(m.File))
}

// MiB formats a byte count in MiB.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ErrNoProc is returned where /proc/PID/status is not available.
var ErrNoProc = errors.New("soak: /proc/PID/status is not available on this system")

// ReadMemory reads pid's memory figures from /proc/PID/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	fields := map[string]*int64{"VmHWM:": &m.Peak, "VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) != 3 || string(f[2]) != "kB" {
			continue
		}
		if p, ok := fields[string(f[0])]; ok {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return Memory{}, fmt.Errorf("/proc/%d/status: %s %q: %w", pid, f[0], f[1], err)
			}
			*p = kb << 10
			found++
		}
	}
	if found != len(fields) {
		return Memory{}, fmt.Errorf("%w: /proc/%d/status lacks VmHWM, VmRSS, RssAnon or RssFile", ErrNoProc, pid)
	}
	return m, nil
}

// CheckProc reports whether this system has /proc/PID/status with the
// figures ReadMemory needs (tests skip without it).
func CheckProc() error {
	_, err := ReadMemory(os.Getpid())
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoProc
	}
	return err
}
