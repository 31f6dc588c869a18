package agent

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/internal/checksum"
)

// source is one file a flow tails, followed by its identity (device and
// inode) and fingerprint through renames, copy-truncates and deletion.
//
// A flow's sources form chains: a chain is the path a log is written at
// (its key) and every generation of it, in the order they were written.
// Within a chain only the oldest unfinished source is read, so a rotated
// file is finished before the one that replaced it is started.
type source struct {
	// Guarded by flowState.mu where other goroutines read them (the
	// checkpointer, the progress line); written only by the flow's tailer.
	id      identity
	path    string // where the file was last seen
	chain   string // the chain's key: the path the log is written at
	fp      fingerprint
	rotated bool  // the file left its chain's path; it is finished before the next generation is read
	gone    bool  // no path the glob matches leads to it (renamed away or deleted): read from the open handle
	done    bool  // read to its end after rotating; never read again
	size    int64 // bytes, at the last poll
	// finalOff is readOff when done was set: the checkpoint marks the file
	// done only once acked reaches it.
	finalOff int64

	// Tailer only.
	f          *os.File // nil once done
	readOff    int64    // bytes whose records were emitted
	mtime      time.Time
	skip       int       // header lines still to skip
	pendingLen int       // bytes of a multi-line record waiting for its end
	pendingAt  time.Time // when pendingLen was first seen

	// acked is the offset up to which every record was acknowledged (or
	// refused as invalid): the offset the checkpoint keeps. Written by the
	// sender.
	acked atomic.Int64
}

// readFingerprint returns the fingerprint of f's first min(size,
// fingerprintLen) bytes, and whether its first old.N bytes still have
// old.Sum (a file rewritten or truncated and refilled does not).
func readFingerprint(f *os.File, size int64, old fingerprint) (fingerprint, bool, error) {
	var b [fingerprintLen]byte
	n, err := f.ReadAt(b[:min(size, fingerprintLen)], 0)
	if err != nil && err != io.EOF {
		return fingerprint{}, false, err
	}
	if n < int(old.N) {
		return fingerprint{}, false, nil
	}
	same := checksum.Value(b[:old.N]) == old.Sum
	return fingerprint{N: uint16(n), Sum: checksum.Value(b[:n])}, same, nil
}

// fingerprintOf is readFingerprint for a path.
func fingerprintOf(path string, old fingerprint) (fingerprint, bool) {
	f, err := os.Open(path)
	if err != nil {
		return fingerprint{}, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fingerprint{}, false
	}
	fp, same, err := readFingerprint(f, fi.Size(), old)
	return fp, same && err == nil
}

// isGeneration reports whether name (app.log.1, app.log-20240101,
// app.log_old) is a rotated generation of base (app.log): base followed by
// one of . - _ and more.
func isGeneration(name, base string) bool {
	return len(name) > len(base)+1 && strings.HasPrefix(name, base) && strings.IndexByte(".-_", name[len(base)]) >= 0
}

// sameDirGeneration is isGeneration for paths in one directory.
func sameDirGeneration(path, chain string) bool {
	return filepath.Dir(path) == filepath.Dir(chain) && isGeneration(filepath.Base(path), filepath.Base(chain))
}
