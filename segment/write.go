package segment

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/record"
)

// Write appends the batch at the tail of the log: one pwritev per segment
// touched, growing the file by fallocate as needed. A batch that does not
// fit in the rest of the active segment is split at a frame boundary: the
// segment is sealed (fdatasync, .idx written through a temp file, fsync,
// rename), the next segment file is created, named by its first sequence
// number, and the directory is fsynced. Nothing written is visible to readers
// until Publish, nor durable until Sync.
//
// A batch holding a frame larger than Options.SegmentSize (or a record Add
// could not encode) fails with ErrFrameTooLarge, and a batch not begun at
// the log's next sequence number with ErrBatchOutOfOrder; nothing is written
// and the log stays usable. A failure before any byte of the batch reached
// a file (opening the active segment again after Park, creating the next
// segment or writing the sealed one's .idx on a roll, fallocate, a pwritev
// that wrote nothing for lack of space) is a *TransientError: nothing of the
// batch is in the log, which stays usable, and the next Write retries. Any
// other error is a data fault that fences the log: it is sticky, returned by
// every later Write and Sync (and by Err) until the log is reopened. After
// Close, Write returns ErrClosed.
func (l *Log) Write(b *Batch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	switch {
	case b.err != nil:
		return b.err
	case len(b.offs) == 0:
		return nil
	case b.first != l.next:
		return fmt.Errorf("%w: batch starts at %d, log at %d", ErrBatchOutOfOrder, b.first, l.next)
	case int64(b.maxFrame) > l.opts.SegmentSize || (b.sealed > 0 && int64(b.maxFrame) > l.opts.SegmentSize-KeyHeaderSize):
		return fmt.Errorf("%w: a %d B frame does not fit in a %d B segment", ErrFrameTooLarge, b.maxFrame, l.opts.SegmentSize)
	case b.sealed > 0 && l.opts.Sealer == nil:
		return ErrNoSealer
	}
	if err := l.unpark(); err != nil {
		return err
	}
	l.cur = l.cur[:0]
	if l.wroteDone {
		// Keep the key header a failed Write left behind: the frames of
		// this one may be sealed under it.
		clear(l.wrote)
		l.wrote = l.wrote[:0]
		l.wroteDone = false
	}
	for i, n := 0, len(b.offs); i < n; {
		if l.needKey(l.active, b) {
			if err := l.rekey(); err != nil {
				return l.failAfter(i > 0, err)
			}
		}
		s := l.active
		// Take the frames that fit in the rest of the segment.
		room := int64(b.offs[i]) + l.opts.SegmentSize - s.end // largest frame end that fits, in batch offsets
		j := i
		for j < n && int64(b.frameEnd(j)) <= room {
			j++
		}
		if j == i && s.count == 0 {
			// Only a key header can leave an empty segment too small for
			// a frame, and only for a batch without sealed frames (see
			// the checks above): give up the header.
			if err := l.dropKey(s); err != nil {
				return l.failAfter(i > 0, err)
			}
			continue
		}
		if j == i {
			if err := l.roll(); err != nil {
				return l.failAfter(i > 0, err)
			}
			continue
		}
		if b.sealed > 0 {
			l.sealFrames(s, b, i, j)
		}
		if err := l.writeFrames(s, b, i, j); err != nil {
			return l.failAfter(i > 0, err)
		}
		i = j
	}
	// Hand the new watermarks to Publish.
	for _, p := range l.cur {
		if k := len(l.pend) - 1; k >= 0 && l.pend[k].seg == p.seg {
			l.pend[k] = p
		} else {
			l.pend = append(l.pend, p)
		}
	}
	l.pendNext, l.pendLast = l.next, l.lastTime
	l.wroteDone = true
	return nil
}

// writeFrames writes frames [i, j) of b at the end of s. Callers hold mu.
func (l *Log) writeFrames(s *segment, b *Batch, i, j int) error {
	lo, hi := b.offs[i], b.frameEnd(j-1)
	if need := s.end + int64(hi-lo); need > s.alloc {
		a := l.opts.growAllocation(s.alloc, need)
		if err := s.f.Allocate(s.alloc, a-s.alloc); err != nil {
			return transient(fmt.Errorf("segment: allocate %s to %d B: %w", s.path, a, err))
		}
		s.alloc = a
	}
	l.iov[0] = b.buf[lo:hi]
	n, err := s.f.WritevAt(l.iov, s.end)
	l.iov[0] = nil
	if err != nil {
		err = fmt.Errorf("segment: write %s at %d: %w", s.path, s.end, err)
		if n == 0 && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
			return transient(err) // refused whole: no byte reached the file
		}
		return err
	}
	l.wrote = append(l.wrote, Extent{Segment: s.base, Offset: s.end, Data: b.buf[lo:hi]})
	seq := b.first + uint64(i)
	for k := i; k < j; k, seq = k+1, seq+1 {
		pos := s.end + int64(b.offs[k]-lo)
		s.idx.MaybeAdd(uint32(seq-s.base), uint32(pos), record.FrameTime(b.buf[b.offs[k]:]))
	}
	s.end += int64(hi - lo)
	s.count += uint32(j - i)
	s.lastTime = record.FrameTime(b.buf[b.offs[j-1]:])
	l.next = b.first + uint64(j)
	l.lastTime = s.lastTime
	if k := len(l.cur) - 1; k >= 0 && l.cur[k].seg == s {
		l.cur = l.cur[:k]
	}
	l.cur = append(l.cur, pendingPub{seg: s, pub: packPub(s.end, s.count), last: s.lastTime})
	return nil
}

// fail makes err sticky. Callers hold mu.
func (l *Log) fail(err error) error {
	l.err = err
	return err
}

// failAfter returns err from Write: a transient error stays transient only
// if no byte of the batch went out before it (wrote is false); everything
// else fences the log. Callers hold mu.
func (l *Log) failAfter(wrote bool, err error) error {
	var te *TransientError
	if errors.As(err, &te) && wrote {
		err = te.Err // frames of the batch are in the file: no clean retry
	}
	if errors.Is(err, ErrTransient) {
		return err
	}
	return l.fail(err)
}

// transient marks err, a failure that left the log as it was, as
// retryable, unless it is an I/O error of the device (EIO): that one is a
// data fault whatever the operation.
func transient(err error) error {
	if errors.Is(err, syscall.EIO) {
		return err
	}
	return &TransientError{Err: err}
}

// fence makes err, a data fault found outside the write path (a read
// faulting on a mapping), sticky for the writer too. Its own lock: it may
// be called from any goroutine.
func (l *Log) fence(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && !l.closed {
		l.err = err
	}
}

// Err returns the data fault that fenced the log (a failed write or sync
// after bytes went out, a segment file truncated outside the server), nil
// while the log is healthy. A fenced log refuses writes until it is
// reopened; reads of what was published go on.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// roll seals the active segment and starts the next one at l.next. The next
// segment is created before the old one's file is let go of, so that a
// failure to create it leaves the old one active and writable: the roll is
// retried by the next Write. Callers hold mu.
func (l *Log) roll() error {
	old := l.active
	if err := l.seal(old); err != nil {
		return err
	}
	s, err := l.createSegment(l.next, l.lastTime)
	if err != nil {
		return transient(fmt.Errorf("segment: create segment %d: %w", l.next, err))
	}
	if old.f != nil {
		_ = old.f.Close() // after fdatasync, close cannot lose data
		old.f = nil
	}
	old.sealed.Store(true)
	old.dk = nil // a sealed segment is never written again
	s.refs.Store(1)
	segs := l.segments()
	l.setSegs(append(segs[:len(segs):len(segs)], s))
	l.active = s
	return nil
}

// seal makes a segment durable: fdatasync (a data fault if it fails) and
// its .idx written through a temp file (fsynced, renamed; the caller syncs
// the directory). A failure to write the .idx is transient: the segment's
// frames are durable and seal may run again. A parked segment was synced
// when it was parked. Callers hold mu.
func (l *Log) seal(s *segment) error {
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("segment: sync %s: %w", s.path, err)
		}
	}
	l.idxBuf = s.idx.Marshal(l.idxBuf[:0], s.base, index.Tail{End: uint64(s.end), Count: s.count, LastTime: s.lastTime})
	if err := writeFileAtomic(l.opts.FS, s.idxPath(), l.idxBuf); err != nil {
		return transient(fmt.Errorf("segment: write index of %s: %w", s.path, err))
	}
	return nil
}

// unpark opens the active segment's file again for writing after Park (or
// Open, which leaves the log parked). A failure is transient; a file found
// shorter than the frames written to it is a data fault. Callers hold mu.
func (l *Log) unpark() error {
	s := l.active
	if s.f != nil {
		return nil
	}
	f, err := l.opts.FS.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return transient(fmt.Errorf("segment: open %s: %w", s.path, err))
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return transient(fmt.Errorf("segment: open %s: %w", s.path, err))
	}
	if size < s.end {
		f.Close()
		return l.fail(&record.CorruptionError{Path: s.path, Offset: size,
			Err: fmt.Errorf("the file is %d B, shorter than its %d B of frames: it was truncated outside the server", size, s.end)})
	}
	s.f, s.alloc = f, size
	return nil
}

// Park lets go of what an idle log holds: it makes everything written
// durable (fdatasync, as Sync), closes the active segment's file, and drops
// its mapping unless a reader holds a lease on it (the cache drops it later
// then). The log stays open: the next Write opens the file again (a failure
// to do so is transient) and the next Read maps it again. Park of a parked
// log does nothing. A sync failure fences the log and is returned.
func (l *Log) Park() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	s := l.active
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			return l.fail(fmt.Errorf("segment: sync %s: %w", s.path, err))
		}
		_ = s.f.Close() // after fdatasync, close cannot lose data
		s.f = nil
	}
	l.opts.Cache.evict(s)
	return nil
}

// writableLocked returns why the log takes no write-side call now: ErrClosed
// after Close, the sticky error of a fenced log, or nil. l.mu must be held.
func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// Sync makes everything written so far durable: fdatasync of the active
// segment (sealed segments were synced when sealed), through
// Options.Flusher when there is one. An error is sticky and the sync is
// never retried. After Close, Sync returns ErrClosed.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if l.active.f == nil {
		return nil // parked: synced when parked
	}
	var err error
	if l.opts.Flusher != nil {
		err = l.opts.Flusher.Sync(l.active.f)
	} else {
		err = l.active.f.Sync()
	}
	if err != nil {
		return l.fail(fmt.Errorf("segment: sync %s: %w", l.active.path, err))
	}
	return nil
}

// Written returns the writes the last successful Write made, in order:
// the frames of the batch (their bytes alias the batch's buffer, valid
// until the batch is reused) and any key header it wrote (or that a Write
// which failed before it left in the file). Together they are
// everything that Sync would make durable of that Write, so a node-wide
// commit log that holds them (see package commitlog) can stand in for the
// Sync. The slice is reused by the next Write.
func (l *Log) Written() []Extent { return l.wrote }

// Flush makes everything written durable, like Sync. Unlike Sync it also
// answers for a log that is no longer open: nil after a clean Close (which
// synced it) or Destroy (nothing is kept), and Close's error otherwise.
func (l *Log) Flush() error {
	l.mu.Lock()
	closed, destroyed, closeErr := l.closed, l.destroyed.Load(), l.closeErr
	l.mu.Unlock()
	if destroyed {
		return nil
	}
	if closed {
		return closeErr
	}
	err := l.Sync()
	if errors.Is(err, ErrClosed) {
		return l.Flush()
	}
	return err
}

// Publish makes every record written so far visible to readers: it stores
// the segments' watermarks and then the log's, with atomic stores and no
// lock. Called by the writer goroutine after Write (and, for durable
// acknowledgements, Sync).
func (l *Log) Publish() {
	for i, p := range l.pend {
		p.seg.pubLast.Store(p.last)
		p.seg.pub.Store(p.pub)
		l.pend[i] = pendingPub{}
	}
	l.pend = l.pend[:0]
	// The watermark before the last time: a reader that sees a record's
	// time through LastTime also sees the record through Bounds and SeekTime.
	l.pubNext.Store(l.pendNext)
	l.pubLast.Store(l.pendLast)
}
