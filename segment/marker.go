package segment

import (
	"encoding/binary"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The clean-shutdown marker (drawn in doc.go). Part of the on-disk format.
const (
	markerName    = "CLEAN"
	markerMagic   = "SLCM"
	markerVersion = 1

	markerOffVersion = 4
	markerOffBase    = markerOffVersion + 2 + 2 // version u16, reserved u16
	markerOffEnd     = markerOffBase + 8
	markerOffLast    = markerOffEnd + 8
	markerOffCount   = markerOffLast + 8
	markerOffCRC     = markerOffCount + 4
	markerSize       = markerOffCRC + 4
)

// checkpoint is where the active segment stood at a clean Close.
type checkpoint struct {
	base     uint64 // the active segment's base sequence number
	end      int64  // bytes of frames
	count    uint32 // frames
	lastTime int64  // arrival time of the newest frame
}

func (c checkpoint) marshal() []byte {
	b := make([]byte, markerSize)
	le := binary.LittleEndian
	copy(b, markerMagic)
	le.PutUint16(b[markerOffVersion:], markerVersion)
	le.PutUint64(b[markerOffBase:], c.base)
	le.PutUint64(b[markerOffEnd:], uint64(c.end))
	le.PutUint64(b[markerOffLast:], uint64(c.lastTime))
	le.PutUint32(b[markerOffCount:], c.count)
	le.PutUint32(b[markerOffCRC:], checksum.Mask(checksum.Value(b[:markerOffCRC])))
	return b
}

// unmarshalCheckpoint decodes a marker file, false if it is not a valid one.
func unmarshalCheckpoint(b []byte) (checkpoint, bool) {
	le := binary.LittleEndian
	if len(b) != markerSize || string(b[:len(markerMagic)]) != markerMagic ||
		le.Uint16(b[markerOffVersion:]) != markerVersion || le.Uint16(b[markerOffVersion+2:]) != 0 ||
		checksum.Mask(checksum.Value(b[:markerOffCRC])) != le.Uint32(b[markerOffCRC:]) {
		return checkpoint{}, false
	}
	return checkpoint{
		base:     le.Uint64(b[markerOffBase:]),
		end:      int64(le.Uint64(b[markerOffEnd:])),
		count:    le.Uint32(b[markerOffCount:]),
		lastTime: int64(le.Uint64(b[markerOffLast:])),
	}, true
}
