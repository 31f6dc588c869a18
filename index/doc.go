// Package index is the sparse index of one segment: an entry for the first
// frame and then for the first frame at or past every Interval bytes, each
// giving the frame's sequence number (relative to the segment's base), its
// file offset and its arrival time. Since the writer clamps arrival times to
// never go backwards, the same entries answer "where is sequence number s"
// and "where do arrivals at or after time t start": a lookup returns the
// entry to start a short forward scan of the frames from.
//
// One goroutine adds entries (MaybeAdd) while any number look them up: the
// entries live in chunks that never move, and a count published with an
// atomic store says how many are valid, so lookups take no lock.
//
// # The .idx file
//
// A sealed segment's index is written beside it as X.idx (X.seg's name with
// another extension). All integers are little-endian:
//
//	header, 24 B
//	  0  magic          4 B  "SLIX"
//	  4  version        u32  1
//	  8  interval       u32  bytes between entries, > 0
//	 12  count n        u32  entries that follow
//	 16  base sequence  u64  sequence number of the segment's first frame
//	entries, n × 16 B, at 24 + 16i
//	  0  RelSeq         u32  sequence number - base sequence
//	  4  Pos            u32  byte offset of the frame in the segment file
//	  8  Time           i64  arrival time of the frame, Unix ns
//	trailer, 24 B, at 24 + 16n
//	  0  end            u64  bytes of valid frames in the segment
//	  8  last time      i64  arrival time of the last frame, Unix ns
//	 16  next RelSeq    u32  frames in the segment
//	 20  CRC            u32  masked CRC-32C of every byte before it
//
//	| header | entry 0 | entry 1 | ... | entry n-1 | end | last time | next RelSeq | CRC |
//
// end is the byte length of the segment's valid frames, next RelSeq the
// number of frames (the relative sequence number the next frame would get)
// and last time the arrival time of the last frame. The CRC (internal/checksum,
// masked) covers every byte before it. The file's length is exactly
// 24 + 16n + 24; Unmarshal checks n against the length before allocating.
//
// Unmarshal also checks what the writer guarantees: interval > 0; RelSeq
// strictly increasing; each Pos at least interval past the previous one; Time
// never decreasing; no entries exactly when next RelSeq is 0; otherwise next
// RelSeq past the last entry's RelSeq, end past its Pos and last time not
// before its Time. A file that fails any check is a *CorruptionError.
package index
