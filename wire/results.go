package wire

import (
	"fmt"

	"github.com/sluicedb/sluice/record"
)

// ResultFrames walks the record frames of a read result or event and
// verifies them against the result's head: every frame's CRC, bounds and
// flags (record.DecodeFrame), sequence numbers consecutive, exactly
// head.Records frames, and head.Next right after the last. The frames it
// returns point into the result's body.
type ResultFrames struct {
	it   record.FrameIter
	head *ResultHead
	n    int
	prev uint64
	err  error
}

// NewResultFrames starts a walk over frames, the record frames of the result
// whose head is head.
func NewResultFrames(frames []byte, head *ResultHead) ResultFrames {
	return ResultFrames{it: record.NewFrameIter(frames), head: head}
}

// Next returns the next verified frame, or false at the end or at the first
// failure (then Err says what it was).
func (r *ResultFrames) Next() (record.Frame, bool) {
	if r.err != nil {
		return record.Frame{}, false
	}
	f, ok := r.it.Next()
	if !ok {
		r.finish()
		return record.Frame{}, false
	}
	if r.n > 0 && f.Seq != r.prev+1 {
		r.err = fmt.Errorf("%w: record %d has sequence %d after %d", ErrCorruptRecord, r.n, f.Seq, r.prev)
		return record.Frame{}, false
	}
	r.prev = f.Seq
	r.n++
	return f, true
}

// finish checks the end of the frames against the head.
func (r *ResultFrames) finish() {
	switch {
	case r.it.Err() != nil:
		r.err = fmt.Errorf("%w: %w", ErrCorruptRecord, r.it.Err())
	case r.n != int(r.head.Records):
		r.err = fmt.Errorf("%w: the result says %d records but its frames hold %d", ErrCorruptRecord, r.head.Records, r.n)
	case r.n > 0 && r.head.Next.Seq != r.prev+1:
		r.err = fmt.Errorf("%w: the next position %d does not follow the last record %d", ErrCorruptRecord, r.head.Next.Seq, r.prev)
	}
}

// Err is the first failure of the walk, nil if every frame verified.
func (r *ResultFrames) Err() error { return r.err }
