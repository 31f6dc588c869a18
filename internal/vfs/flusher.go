package vfs

import (
	"io/fs"
	"sync"
	"sync/atomic"
)

// Flusher makes many files durable together: each caller of Sync waits for
// its own file's fdatasync, but while several are under way a single
// submitter goroutine issues them. On Linux with io_uring, the files of every caller waiting at one
// moment go in one io_uring_enter, an fdatasync per file, which the kernel
// runs in parallel (io-wq, with as many workers as the ring has slots),
// and later callers' files are submitted as soon as any flush under way
// completes. A Sync that finds no other under way calls fdatasync itself,
// as without a Flusher, so that a lone writer pays no hand-over. The
// callers that go through the submitter block on a channel, not in a
// system call, so a busy process with few cores keeps its goroutines
// running while the disk works, and a thousand files waiting
// cost one system call instead of a thousand threads parked in the kernel.
// Files the ring cannot take (the in-memory file system's, or any file
// where io_uring is missing or refused) are synced by their caller with
// File.Sync, as without a Flusher.
//
// A Flusher is safe for concurrent use. Close stops the submitter after the
// flushes under way; a Sync after Close syncs its file directly.
type Flusher struct {
	ring *uring // nil: every Sync is direct
	// syncing counts the Syncs under way. One alone is done by its caller
	// with fdatasync, which costs no hand-over to the submitter: a lone
	// shard's flush is not slowed down by the batching meant for many.
	syncing atomic.Int64
	// ringed counts the files flushed through the ring (for tests).
	ringed atomic.Int64

	mu      sync.Mutex
	pending []*flushWait
	closed  bool
	direct  bool          // the ring failed: Sync calls File.Sync
	wake    chan struct{} // cap 1: pending became non-empty, or Close
	done    chan struct{} // closed when the submitter has exited
}

// flushWait is one caller's file and the result of its flush; pooled.
type flushWait struct {
	fd  int
	err error
	c   chan struct{} // cap 1: the result is in
}

var flushWaits = sync.Pool{New: func() any { return &flushWait{c: make(chan struct{}, 1)} }}

// NewFlusher starts a Flusher. Where io_uring is not available it returns a
// Flusher whose Sync calls File.Sync directly (Batched reports which).
func NewFlusher() *Flusher {
	fl := &Flusher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	r, err := newURing(flusherRingEntries)
	if err != nil {
		close(fl.done)
		return fl
	}
	fl.ring = r
	go fl.submitter()
	return fl
}

// flusherRingEntries bounds the files one submission carries; more waiting
// go in the next one.
const flusherRingEntries = 256

// Batched reports whether Sync flushes files together through io_uring
// (false: each Sync calls File.Sync).
func (fl *Flusher) Batched() bool { return fl.ring != nil }

// Sync makes f's data durable, as f.Sync does (fdatasync), and returns its
// error.
func (fl *Flusher) Sync(f File) error {
	of, ok := f.(*osFile)
	if !ok || fl.ring == nil {
		return f.Sync()
	}
	defer fl.syncing.Add(-1)
	if fl.syncing.Add(1) == 1 {
		return f.Sync()
	}
	w := flushWaits.Get().(*flushWait)
	w.fd, w.err = of.fd, nil
	fl.mu.Lock()
	if fl.closed || fl.direct {
		fl.mu.Unlock()
		flushWaits.Put(w)
		return f.Sync()
	}
	fl.pending = append(fl.pending, w)
	first := len(fl.pending) == 1
	fl.mu.Unlock()
	if first {
		select {
		case fl.wake <- struct{}{}:
		default:
		}
	}
	<-w.c
	err := w.err
	flushWaits.Put(w)
	if err != nil {
		return &fs.PathError{Op: "fdatasync", Path: of.name, Err: err}
	}
	return nil
}

// Close stops the submitter once the flushes under way are done and
// releases the ring. Later Syncs call File.Sync directly.
func (fl *Flusher) Close() error {
	fl.mu.Lock()
	if fl.closed {
		fl.mu.Unlock()
		<-fl.done
		return nil
	}
	fl.closed = true
	fl.mu.Unlock()
	select {
	case fl.wake <- struct{}{}:
	default:
	}
	<-fl.done
	if fl.ring != nil {
		return fl.ring.close()
	}
	return nil
}

// submitter keeps the ring busy: it submits every waiting file (as many as
// the ring has free slots for), waits for at least one flush under way to
// complete, wakes the callers of those that did, and goes round again, so
// that a file that starts waiting is submitted as soon as any flush ends,
// not when a whole round does. It exits on Close once nothing is waiting
// or under way. If the ring fails, the flushes under way fail with its
// error (their outcome is unknown, and an fdatasync is never retried into a
// success) and every later Sync is direct.
func (fl *Flusher) submitter() {
	defer close(fl.done)
	r := fl.ring
	slots := make([]*flushWait, r.entries)
	free := make([]uint64, 0, r.entries)
	for i := range slots {
		free = append(free, uint64(len(slots)-1-i))
	}
	inflight := 0
	complete := func(ud uint64, err error) {
		w := slots[ud]
		slots[ud] = nil
		free = append(free, ud)
		inflight--
		w.err = err
		w.c <- struct{}{}
	}
	for {
		fl.mu.Lock()
		n := min(len(fl.pending), len(free))
		for _, w := range fl.pending[:n] {
			ud := free[len(free)-1]
			free = free[:len(free)-1]
			slots[ud] = w
			r.prep(w.fd, ud)
		}
		rest := copy(fl.pending, fl.pending[n:])
		clear(fl.pending[rest:])
		fl.pending = fl.pending[:rest]
		closed := fl.closed
		fl.mu.Unlock()
		inflight += n
		fl.ringed.Add(int64(n))
		if inflight == 0 {
			if closed {
				return
			}
			<-fl.wake
			continue
		}
		if err := r.enter(1); err != nil {
			fl.mu.Lock()
			fl.direct = true
			fl.mu.Unlock()
			for ud, w := range slots {
				if w != nil {
					complete(uint64(ud), err)
				}
			}
			fl.drainDirect()
			return
		}
		r.reap(complete)
	}
}

// drainDirect syncs, each directly, the files still waiting after the ring
// failed; Syncs from then on are direct.
func (fl *Flusher) drainDirect() {
	fl.mu.Lock()
	ws := fl.pending
	fl.pending = nil
	fl.mu.Unlock()
	for _, w := range ws {
		w.err = fdatasyncFD(w.fd)
		w.c <- struct{}{}
	}
}
