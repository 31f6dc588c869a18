package segment

import (
	"errors"
	"math"
	"runtime/debug"
	"sort"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/record"
)

// View is the result of a Read: a run of consecutive published frames of one
// segment, zero-copy from the segment's mapping.
//
// Frames, and everything decoded from them, are valid until Release, which
// drops the view's lease on the segment; a segment removed meanwhile by
// retention stays mapped until then.
type View struct {
	// Frames are Count frames back to back, exactly as stored: each can be
	// sent as is and checked by its CRC at the other end.
	Frames []byte
	// Count is the number of frames.
	Count int
	// First is the sequence number of the first frame (the requested one,
	// or the oldest retained if that was older); Next is one past the last.
	First, Next uint64
	// LastTime is the arrival time of the last frame (0 if Count is 0).
	LastTime int64

	seg *segment // the leased segment, nil if none
}

// Release drops the view's lease and empties it. Frames and every Frame
// decoded from them must not be used afterwards. Release of an empty or
// released View does nothing.
func (v *View) Release() {
	if v.seg != nil {
		v.seg.release()
	}
	*v = View{}
}

// Iter returns an iterator over the view's frames; it verifies each CRC and
// does not allocate.
func (v *View) Iter() record.FrameIter { return record.NewFrameIter(v.Frames) }

// Bounds returns the oldest retained sequence number and one past the newest
// published one; first == next when the log holds no record.
func (l *Log) Bounds() (first, next uint64) {
	next = l.pubNext.Load()
	segs := l.segments()
	if len(segs) == 0 {
		return next, next
	}
	// A just-expired log may have moved its start past the published
	// watermark (the records in between were written, expired, and never
	// published): it is then empty at its new start.
	first = segs[0].base
	return first, max(first, next)
}

// LastTime returns the arrival time of the newest published record, 0 if
// none was ever written.
func (l *Log) LastTime() int64 { return l.pubLast.Load() }

// Read fills v with up to maxRecords published frames starting at seq, as
// one contiguous slice of one segment's mapping: a read stops at the end of
// a segment, at the published watermark, at maxRecords frames, or before the
// frame that would take it past maxBytes, but returns at least one frame if
// one is available even if that frame alone exceeds maxBytes. maxRecords or
// maxBytes <= 0 means no limit. If seq is older than the oldest retained
// record, the read starts at the oldest (v.First says where); seq at or past
// the published end gives an empty view (Count 0, First and Next = seq).
//
// v holds a lease on the segment until v.Release; a lease v already held
// is released first. Read takes no lock: it loads the segment list and the
// watermark atomically and walks the frames' length fields from the nearest
// index entry. It returns ErrClosed after Close, and a *CorruptionError if a
// length field in a stored segment is out of bounds.
func (l *Log) Read(seq uint64, maxRecords, maxBytes int, v *View) error {
	v.Release()
	for {
		next := l.pubNext.Load()
		segs := l.segments()
		if len(segs) == 0 {
			return ErrClosed
		}
		seq = max(seq, segs[0].base)
		if seq >= next {
			v.First, v.Next = seq, seq
			return nil
		}
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > seq }) - 1
		s := segs[i]
		if !s.acquire() {
			continue // removed under us: the next load of the list no longer has it
		}
		err := s.readLeased(seq, next, maxRecords, maxBytes, v)
		if err != nil || v.Count == 0 {
			s.release()
			v.seg = nil
		}
		return err
	}
}

// readLeased fills v from s, leased by the caller, stopping before sequence
// number limit. It maps s if needed and turns a fault on the mapping into a
// *CorruptionError (see fault.go): one deferred call per read, none per
// frame.
func (s *segment) readLeased(seq, limit uint64, maxRecords, maxBytes int, v *View) (err error) {
	end, count := unpackPub(s.pub.Load())
	if avail := s.base + uint64(count); avail < limit {
		limit = avail
	}
	v.First, v.Next = seq, seq
	if seq >= limit {
		return nil
	}
	m, err := s.mapping()
	if err != nil {
		return err
	}
	if s.damaged.Load() {
		if err := s.checkSize(end); err != nil {
			return err
		}
	}
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			err = s.recovered(r, m)
			v.Frames, v.Count, v.Next, v.LastTime = nil, 0, seq, 0
		}
	}()
	return s.read(m, seq, limit, end, maxRecords, maxBytes, v)
}

// read fills v from the mapping m of s with the frames [seq, limit), all
// below the published end.
func (s *segment) read(m *mapped, seq, limit uint64, end, maxRecords, maxBytes int, v *View) error {
	data := m.data[:end]
	rel := uint32(seq - s.base)
	pos, at := int(s.start.Load()), uint32(0)
	if e, ok := s.idx.LookupSeq(rel); ok {
		pos, at = int(e.Pos), e.RelSeq
	}
	for ; at < rel; at++ {
		n := record.FrameLen(data[pos:])
		if n == 0 || pos+n > end {
			return s.corrupt(pos, "length field out of bounds")
		}
		pos += n
	}
	if pos+record.HeaderSize > end || record.FrameSeq(data[pos:]) != seq {
		return s.corrupt(pos, "frame does not carry the expected sequence number")
	}
	start, last := pos, pos
	want := limit - seq
	if maxRecords > 0 {
		want = min(want, uint64(maxRecords))
	}
	k := uint64(0)
	// A long read jumps over most frames with the index instead of reading
	// every length field, leaving the bytes' first touch to the consumer.
	if want > 8 && (maxBytes <= 0 || maxBytes >= 4*s.idx.Interval()) {
		if e, ok := s.skip(data, rel, start, end, want, maxBytes); ok {
			pos, k = int(e.Pos), uint64(e.RelSeq-rel)
		}
	}
	for k < want {
		n := record.FrameLen(data[pos:])
		if n == 0 || pos+n > end {
			return s.corrupt(pos, "length field out of bounds")
		}
		if k > 0 && maxBytes > 0 && pos+n-start > maxBytes {
			break
		}
		last = pos
		pos += n
		k++
	}
	if wm := s.populated.Load(); int64(pos) > wm && s.populated.CompareAndSwap(wm, int64(pos)) {
		s.prefault(m, max(start, int(wm)), pos)
	}
	v.Frames = data[start:pos:pos]
	v.Count = int(k)
	v.Next = seq + k
	v.LastTime = record.FrameTime(data[last:])
	v.seg = s
	return nil
}

// skip returns the furthest index entry after rel whose frame a read from
// rel (starting at byte start, below the published end) may still include
// whole: fewer than want frames before it and its end within maxBytes of
// start (maxBytes <= 0: no limit). false if no entry qualifies.
func (s *segment) skip(data []byte, rel uint32, start, end int, want uint64, maxBytes int) (index.Entry, bool) {
	fits := func(e index.Entry) bool {
		if e.RelSeq <= rel || int(e.Pos) >= end {
			return false
		}
		if maxBytes <= 0 {
			return true
		}
		n := record.FrameLen(data[e.Pos:end])
		return n > 0 && int(e.Pos)+n-start <= maxBytes
	}
	top := uint32(min(uint64(rel)+want-1, math.MaxUint32))
	e, ok := s.idx.LookupSeq(top)
	if !ok || e.RelSeq <= rel {
		return index.Entry{}, false
	}
	if fits(e) {
		return e, true
	}
	// Entry positions grow with RelSeq: binary search for the last that
	// fits. Invariant: lo's entry is before the read or fits; hi's does not.
	var best index.Entry
	found := false
	for lo, hi := rel, e.RelSeq; lo+1 < hi; {
		mid := lo + (hi-lo)/2
		m, _ := s.idx.LookupSeq(mid)
		switch {
		case m.RelSeq <= rel:
			lo = mid
		case fits(m):
			best, found, lo = m, true, mid
		default:
			hi = mid
		}
	}
	return best, found
}

func (s *segment) corrupt(pos int, msg string) error {
	return &record.CorruptionError{Path: s.path, Offset: int64(pos), Err: errors.New(msg)}
}

// SeekTime returns the sequence number of the first published record whose
// arrival time is at or after t (Unix ns): the oldest retained if t is older
// than all of them, one past the newest published (Bounds' next) if none is
// that recent. It takes no lock.
func (l *Log) SeekTime(t int64) uint64 {
retry:
	next := l.pubNext.Load()
	segs := l.segments()
	if len(segs) == 0 {
		return next
	}
	// Segment times are monotonic (an empty segment carries its
	// predecessor's), so the answer lies in the first segment whose newest
	// published record is recent enough, or in the next non-empty one.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].pubLast.Load() >= t })
	for ; i < len(segs) && segs[i].base < next; i++ {
		s := segs[i]
		if !s.acquire() {
			goto retry // removed under us: the next load of the list no longer has it
		}
		seq, ok := s.seekTimeLeased(t, next)
		s.release()
		if ok {
			return seq
		}
	}
	return max(next, segs[0].base)
}

// seekTimeLeased finds the first published frame of s with arrival time >=
// t, stopping before sequence number limit. s is leased by the caller. A
// segment that cannot be mapped or faults (and fences the log) is passed
// over.
func (s *segment) seekTimeLeased(t int64, limit uint64) (seq uint64, ok bool) {
	end, count := unpackPub(s.pub.Load())
	if avail := s.base + uint64(count); avail < limit {
		limit = avail
	}
	if s.base >= limit {
		return 0, false
	}
	m, err := s.mapping()
	if err != nil {
		return 0, false
	}
	if s.damaged.Load() && s.checkSize(end) != nil {
		return 0, false
	}
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			_ = s.recovered(r, m)
			seq, ok = 0, false
		}
	}()
	return s.seekTime(m.data[:end], t, limit)
}

// seekTime finds the first frame of data, a segment's published frames,
// with arrival time >= t, stopping before sequence number limit.
func (s *segment) seekTime(data []byte, t int64, limit uint64) (uint64, bool) {
	end := len(data)
	pos, rel := int(s.start.Load()), uint32(0)
	if e, ok := s.idx.LookupTime(t); ok && s.base+uint64(e.RelSeq) < limit {
		pos, rel = int(e.Pos), e.RelSeq
	}
	for seq := s.base + uint64(rel); seq < limit; seq++ {
		if pos+record.HeaderSize > end {
			return 0, false
		}
		if record.FrameTime(data[pos:]) >= t {
			return seq, true
		}
		n := record.FrameLen(data[pos:])
		if n == 0 {
			return 0, false
		}
		pos += n
	}
	return 0, false
}
