package segment

import (
	"encoding/binary"

	"github.com/sluicedb/sluice/record"
)

// Payload returns the bytes of keys and data in the view's frames and the
// arrival time of its last frame, reading only the frame headers. The frames
// of a View were verified when they were written and recovered, so this walk
// does not check CRCs again; a reader that hands frames on (or decodes them)
// verifies them there.
func (v *View) Payload() (bytes int, lastTime int64, err error) {
	s, err := v.Summary()
	return s.Bytes, s.LastTime, err
}

// ViewSummary is what one walk over a view's frame headers finds.
type ViewSummary struct {
	// Bytes are the bytes of keys and data (of sealed frames: in the
	// clear, without the tag).
	Bytes int
	// LastTime is the arrival time of the last frame.
	LastTime int64
	// Sealed counts the frames with record.FlagEncrypted: sealed under the
	// data key of KeyBlob.
	Sealed int
}

// Summary walks the view's frame headers (see Payload) and reports their
// payload, last arrival time and sealed frames.
func (v *View) Summary() (s ViewSummary, err error) {
	err = v.Guard(func() { s = summarize(v.Frames) })
	return s, err
}

func summarize(b []byte) (s ViewSummary) {
	for off := 0; off+record.HeaderSize <= len(b); {
		n := record.FrameLen(b[off:])
		if n == 0 || off+n > len(b) {
			break
		}
		s.Bytes += int(binary.LittleEndian.Uint32(b[off+record.LengthOffset:])) - record.MinLength // key + data
		if binary.LittleEndian.Uint16(b[off+record.FlagsOffset:])&record.FlagEncrypted != 0 {
			s.Sealed++
			s.Bytes -= record.SealOverhead
		}
		s.LastTime = record.FrameTime(b[off:])
		off += n
	}
	return s
}
