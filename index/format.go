package index

import (
	"encoding/binary"
	"slices"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The .idx format (drawn in doc.go). These constants are part of the format
// and must not change; a change is a new Version.
const (
	// Version is the .idx format version this package writes and reads.
	Version = 1

	magic       = "SLIX"
	headerSize  = 4 + 4 + 4 + 4 + 8 // magic, version, interval, count, base sequence
	entrySize   = 4 + 4 + 8         // RelSeq, Pos, Time
	trailerSize = 8 + 8 + 4 + 4     // end, last time, next RelSeq, masked CRC

	offVersion  = 4
	offInterval = 8
	offCount    = 12
	offBase     = 16
)

// Header is what an .idx file says about its segment.
type Header struct {
	Version  uint32 // format version
	Interval int    // bytes between entries
	Base     uint64 // sequence number of the segment's first frame
}

// Tail is the state of the segment when its index was written.
type Tail struct {
	End      uint64 // bytes of valid frames (the offset the next frame would start at)
	Count    uint32 // frames in the segment: the RelSeq the next frame would get
	LastTime int64  // arrival time of the last frame, Unix ns (0 if none)
}

// EncodedSize is the length of the .idx file Marshal produces now.
func (ix *Index) EncodedSize() int { return headerSize + ix.Len()*entrySize + trailerSize }

// Marshal appends the .idx file of the index to dst and returns it; it does
// not allocate if dst has EncodedSize bytes of room. base is the segment's
// base sequence number. tail must agree with the entries (Count past the last
// RelSeq, End past the last Pos, LastTime not before the last Time, Count 0
// exactly when there are no entries): Unmarshal rejects a file where it does
// not.
func (ix *Index) Marshal(dst []byte, base uint64, tail Tail) []byte {
	n := int(ix.n.Load())
	start := len(dst)
	dst = slices.Grow(dst, headerSize+n*entrySize+trailerSize)
	le := binary.LittleEndian
	dst = append(dst, magic...)
	dst = le.AppendUint32(dst, Version)
	dst = le.AppendUint32(dst, ix.interval)
	dst = le.AppendUint32(dst, uint32(n))
	dst = le.AppendUint64(dst, base)
	for k, s, size := 0, 0, ix.first; s < n; k, s, size = k+1, s+size, size<<1 {
		for _, e := range ix.chunks[k][:min(size, n-s)] {
			dst = le.AppendUint32(dst, e.RelSeq)
			dst = le.AppendUint32(dst, e.Pos)
			dst = le.AppendUint64(dst, uint64(e.Time))
		}
	}
	dst = le.AppendUint64(dst, tail.End)
	dst = le.AppendUint64(dst, uint64(tail.LastTime))
	dst = le.AppendUint32(dst, tail.Count)
	return le.AppendUint32(dst, checksum.Mask(checksum.Value(dst[start:])))
}

// Unmarshal decodes an .idx file. Any bytes give either a valid index with
// its header and tail, or a *CorruptionError (errors.Is ErrCorrupt) and
// nothing else; the entry count is checked against len(b) before anything is
// allocated. The index does not alias b and accepts further MaybeAdd calls.
func Unmarshal(b []byte) (*Index, Header, Tail, error) {
	le := binary.LittleEndian
	if len(b) >= len(magic) && string(b[:len(magic)]) != magic {
		return nil, Header{}, Tail{}, corrupt(0, ErrBadMagic, "file starts with %q, want %q", b[:len(magic)], magic)
	}
	if len(b) >= offVersion+4 {
		if v := le.Uint32(b[offVersion:]); v != Version {
			return nil, Header{}, Tail{}, corrupt(offVersion, ErrVersion, "version %d, this build reads %d", v, Version)
		}
	}
	if len(b) < headerSize+trailerSize {
		return nil, Header{}, Tail{}, corrupt(len(b), ErrTruncated, "file is %d bytes, the header and trailer alone take %d", len(b), headerSize+trailerSize)
	}
	n := le.Uint32(b[offCount:])
	if need := uint64(headerSize) + uint64(n)*entrySize + trailerSize; need != uint64(len(b)) {
		if need > uint64(len(b)) {
			return nil, Header{}, Tail{}, corrupt(len(b), ErrTruncated, "%d entries need %d bytes, file has %d", n, need, len(b))
		}
		return nil, Header{}, Tail{}, corrupt(int(need), ErrTrailingBytes, "%d entries end the file at %d bytes, file has %d", n, need, len(b))
	}
	crcOff := len(b) - 4
	if got, want := checksum.Value(b[:crcOff]), checksum.Unmask(le.Uint32(b[crcOff:])); got != want {
		return nil, Header{}, Tail{}, corrupt(crcOff, ErrChecksum, "stored CRC %#08x, bytes give %#08x", want, got)
	}
	hdr := Header{Version: Version, Interval: int(le.Uint32(b[offInterval:])), Base: le.Uint64(b[offBase:])}
	if hdr.Interval == 0 {
		return nil, Header{}, Tail{}, corrupt(offInterval, ErrInconsistent, "interval is 0")
	}
	tr := b[crcOff-(trailerSize-4):]
	tail := Tail{End: le.Uint64(tr), LastTime: int64(le.Uint64(tr[8:])), Count: le.Uint32(tr[16:])}

	ix := New(hdr.Interval, int(n))
	var prev Entry
	for i := 0; i < int(n); i++ {
		off := headerSize + i*entrySize
		e := Entry{RelSeq: le.Uint32(b[off:]), Pos: le.Uint32(b[off+4:]), Time: int64(le.Uint64(b[off+8:]))}
		if i > 0 {
			switch {
			case e.RelSeq <= prev.RelSeq:
				return nil, Header{}, Tail{}, corrupt(off, ErrInconsistent, "entry %d RelSeq %d not after previous %d", i, e.RelSeq, prev.RelSeq)
			case uint64(e.Pos) < uint64(prev.Pos)+uint64(hdr.Interval):
				return nil, Header{}, Tail{}, corrupt(off+4, ErrInconsistent, "entry %d Pos %d less than interval %d after previous %d", i, e.Pos, hdr.Interval, prev.Pos)
			case e.Time < prev.Time:
				return nil, Header{}, Tail{}, corrupt(off+8, ErrInconsistent, "entry %d Time %d before previous %d", i, e.Time, prev.Time)
			}
		}
		ix.add(e)
		prev = e
	}
	trOff := crcOff - (trailerSize - 4)
	switch {
	case n == 0 && tail.Count != 0:
		return nil, Header{}, Tail{}, corrupt(trOff+16, ErrInconsistent, "%d frames but no entries", tail.Count)
	case n > 0 && tail.Count <= prev.RelSeq:
		return nil, Header{}, Tail{}, corrupt(trOff+16, ErrInconsistent, "next RelSeq %d not after last entry's %d", tail.Count, prev.RelSeq)
	case n > 0 && tail.End <= uint64(prev.Pos):
		return nil, Header{}, Tail{}, corrupt(trOff, ErrInconsistent, "end %d not after last entry's Pos %d", tail.End, prev.Pos)
	case n > 0 && tail.LastTime < prev.Time:
		return nil, Header{}, Tail{}, corrupt(trOff+8, ErrInconsistent, "last time %d before last entry's %d", tail.LastTime, prev.Time)
	}
	return ix, hdr, tail, nil
}
