package segment

import (
	"fmt"
	"slices"

	"github.com/sluicedb/sluice/record"
)

// Batch is a reusable buffer of encoded frames: the unit of one Write. The
// zero value is ready for Log.Begin; its buffers grow to the largest batch
// seen and are then reused, so a warm Batch does not allocate. A Batch is
// used by one goroutine at a time.
type Batch struct {
	buf  []byte // the encoded frames, back to back
	offs []int  // offs[i] is the offset of frame i in buf

	first    uint64 // sequence number of the first frame
	last     int64  // arrival time of the last frame added (or the log's last, if none)
	maxFrame int    // size of the largest frame added
	sealed   int    // frames added by AddSealed: sealed by Write
	seals    []int  // their indexes, ascending
	err      error  // the first record Add could not encode
}

// Add encodes a record as the batch's next frame and returns the sequence
// number and arrival time it will have: t raised to the previous arrival
// time if it is earlier, so that arrival times never go backwards within the
// log. A key longer than MaxKeyLen, data longer than MaxDataLen or flags
// outside FlagEncrypted|FlagCompressed make the whole batch fail in Write
// with ErrFrameTooLarge; validate records before adding them.
func (b *Batch) Add(t int64, flags uint16, key, data []byte) (seq uint64, arrival int64) {
	t = max(t, b.last)
	seq = b.first + uint64(len(b.offs))
	if len(key) > record.MaxKeyLen || len(data) > record.MaxDataLen || flags&^record.KnownFlags != 0 {
		if b.err == nil {
			b.err = fmt.Errorf("%w: record %d has a %d B key, %d B of data and flags %#x; the limits are %d B, %d B and %#x",
				ErrFrameTooLarge, len(b.offs), len(key), len(data), flags, record.MaxKeyLen, record.MaxDataLen, record.KnownFlags)
		}
		// Keep sequence numbers in step with Add calls; the batch cannot
		// be written anyway.
		b.offs = append(b.offs, len(b.buf))
		return seq, t
	}
	size := record.FrameSize(len(key), len(data))
	off := len(b.buf)
	b.buf = slices.Grow(b.buf, size)[:off+size]
	record.PutFrame(b.buf[off:], seq, t, flags, key, data)
	b.offs = append(b.offs, off)
	b.last = t
	b.maxFrame = max(b.maxFrame, size)
	return seq, t
}

// AddSealed is Add for a record to be stored encrypted: its frame, with
// FlagEncrypted, is laid out for sealing (record.PutUnsealed) and sealed by
// Write under the data key of the segment it lands in (see Sealer). Its
// data may be at most MaxDataLen - record.SealOverhead bytes. Add and
// AddSealed may be mixed in a batch.
func (b *Batch) AddSealed(t int64, key, data []byte) (seq uint64, arrival int64) {
	t = max(t, b.last)
	seq = b.first + uint64(len(b.offs))
	if len(key) > record.MaxKeyLen || len(data)+record.SealOverhead > record.MaxDataLen {
		if b.err == nil {
			b.err = fmt.Errorf("%w: record %d has a %d B key and %d B of data to seal; the limits are %d B and %d B",
				ErrFrameTooLarge, len(b.offs), len(key), len(data), record.MaxKeyLen, record.MaxDataLen-record.SealOverhead)
		}
		b.offs = append(b.offs, len(b.buf))
		return seq, t
	}
	size := record.SealedFrameSize(len(key), len(data))
	off := len(b.buf)
	b.buf = slices.Grow(b.buf, size)[:off+size]
	record.PutUnsealed(b.buf[off:], seq, t, key, data)
	b.offs = append(b.offs, off)
	b.last = t
	b.maxFrame = max(b.maxFrame, size)
	b.seals = append(b.seals, len(b.offs)-1)
	b.sealed++
	return seq, t
}

// Len is the number of records added.
func (b *Batch) Len() int { return len(b.offs) }

// Size is the bytes of the encoded frames.
func (b *Batch) Size() int { return len(b.buf) }

// First is the sequence number of the first record (the log's next sequence
// number when the batch was begun).
func (b *Batch) First() uint64 { return b.first }

// Bytes are the encoded frames, valid until the next Begin or Add.
func (b *Batch) Bytes() []byte { return b.buf }

// frameEnd is the offset in buf just past frame i.
func (b *Batch) frameEnd(i int) int {
	if i+1 < len(b.offs) {
		return b.offs[i+1]
	}
	return len(b.buf)
}

// reset starts the batch at sequence number first after arrival time last.
func (b *Batch) reset(first uint64, last int64) {
	b.buf = b.buf[:0]
	b.offs = b.offs[:0]
	b.first = first
	b.last = last
	b.maxFrame = 0
	b.sealed = 0
	b.seals = b.seals[:0]
	b.err = nil
}
