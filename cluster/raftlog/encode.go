package raftlog

import "encoding/binary"

// batch builds the bytes of one write: records back to back, then the
// commit record that makes them count. Headers and small payloads go into
// buf; entry data is written from the caller's slices (pwritev), not
// copied.
type batch struct {
	buf   []byte
	parts []part
	offs  []int64 // the offsets in the batch of the entry records, in order
	iov   [][]byte
	chain uint32 // CRC-32C of the masked CRCs of the records so far
	count uint64 // records so far
	size  int64  // bytes so far
	// Scratch space for small payloads and the chain's input, kept here so
	// that it is not allocated per record.
	scratch [8]byte
	sumBuf  [4]byte
}

// part is a piece of the write: buf[lo:hi], then ext.
type part struct {
	lo, hi int
	ext    []byte
}

func (b *batch) reset() {
	b.buf = b.buf[:0]
	clear(b.parts)
	b.parts = b.parts[:0]
	b.offs = b.offs[:0]
	b.chain, b.count, b.size = 0, 0, 0
}

// add appends r and returns its offset in the batch. A record whose payload
// is inline has it copied into buf; otherwise the payload is written from
// r.payload, which must stay unchanged until the write is done.
func (b *batch) add(r *record, inline bool) int64 {
	off := b.size
	lo := len(b.buf)
	var zero [recHeaderSize]byte
	b.buf = append(b.buf, zero[:]...)
	var sum uint32
	if inline {
		b.buf = append(b.buf, r.payload...)
		p := r.payload
		r.payload = b.buf[lo+recHeaderSize:]
		sum = putRecordHeader(b.buf[lo:lo+recHeaderSize], r)
		r.payload = p
		b.parts = append(b.parts, part{lo: lo, hi: len(b.buf)})
	} else {
		sum = putRecordHeader(b.buf[lo:lo+recHeaderSize], r)
		b.parts = append(b.parts, part{lo: lo, hi: len(b.buf), ext: r.payload})
	}
	b.chain = chainSum(b.chain, sum, &b.sumBuf)
	b.count++
	b.size += recHeaderSize + int64(len(r.payload))
	if r.kind == kindEntry {
		b.offs = append(b.offs, off)
	}
	return off
}

// addHardState adds a hard state record.
func (b *batch) addHardState(group, term, vote, commit uint64) {
	binary.LittleEndian.PutUint64(b.scratch[:hardStateSize], commit)
	r := record{kind: kindHardState, group: group, a: term, b: vote, payload: b.scratch[:hardStateSize]}
	b.add(&r, true)
}

// commit ends the batch with its commit record, sequence seq.
func (b *batch) commit(seq uint64) {
	var p [commitSize]byte
	binary.LittleEndian.PutUint32(p[:], b.chain)
	r := record{kind: kindCommit, a: seq, b: b.count, payload: p[:]}
	b.add(&r, true)
}

// vectors returns the write's buffers, valid until the next reset.
func (b *batch) vectors() [][]byte {
	clear(b.iov)
	b.iov = b.iov[:0]
	start := -1
	for _, p := range b.parts {
		if start < 0 {
			start = p.lo
		}
		if len(p.ext) == 0 {
			continue // the next part's bytes in buf follow on
		}
		b.iov = append(b.iov, b.buf[start:p.hi], p.ext)
		start = -1
	}
	if start >= 0 {
		b.iov = append(b.iov, b.buf[start:])
	}
	return b.iov
}
