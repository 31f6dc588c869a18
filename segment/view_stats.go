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
	err = v.Guard(func() { bytes, lastTime = payload(v.Frames) })
	return bytes, lastTime, err
}

func payload(b []byte) (bytes int, lastTime int64) {
	for off := 0; off+record.HeaderSize <= len(b); {
		n := record.FrameLen(b[off:])
		if n == 0 || off+n > len(b) {
			break
		}
		bytes += int(binary.LittleEndian.Uint32(b[off+record.LengthOffset:])) - record.MinLength // key + data
		lastTime = record.FrameTime(b[off:])
		off += n
	}
	return bytes, lastTime
}
