package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/internal/checksum"
)

// File layout (little endian throughout):
//
//	file header, 32 B
//	  0  magic "SLCMTLOG"
//	  8  u32 format version (1)
//	 12  u32 reserved, zero
//	 16  u64 the file's number (as in its name)
//	 24  u32 masked CRC-32C of bytes 0..24
//	 28  u32 reserved, zero
//	entry, 32 B header + data, back to back from offset 32
//	  0  u32 data length (> 0)
//	  4  u32 masked CRC-32C of header bytes 8..32 followed by the data
//	  8  u32 stream incarnation
//	 12  u32 shard index
//	 16  u64 segment base (first sequence number of the segment file)
//	 24  u64 offset in the segment file
//	 32  data
//
// The space after the last entry reads as zeros (files are preallocated
// with fallocate and never reused): a zero length ends the file. Any other
// header that does not check (bad CRC, a length past the end of the file)
// ends it too: it is the tail of a write that a crash or an I/O error cut,
// and nothing after it in that file was ever acknowledged.
const (
	fileHeaderSize  = 32
	entryHeaderSize = 32
	formatVersion   = 1
	fileExt         = ".log"
	nameDigits      = 20
)

var fileMagic = [8]byte{'S', 'L', 'C', 'M', 'T', 'L', 'O', 'G'}

// Target names where an entry's bytes belong: an offset in one segment file
// of one shard of one stream.
type Target struct {
	Stream  uint32 // the stream's incarnation
	Shard   uint32 // the shard's index in the stream
	Segment uint64 // the segment file's base sequence number
}

// fileName is the name of the commit log file numbered n.
func fileName(n uint64) string { return fmt.Sprintf("%0*d%s", nameDigits, n, fileExt) }

// parseFileName returns the number of a commit log file name, false for any
// other name.
func parseFileName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, fileExt)
	if !ok || len(digits) != nameDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

func putFileHeader(b []byte, n uint64) {
	clear(b[:fileHeaderSize])
	copy(b, fileMagic[:])
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint64(b[16:], n)
	binary.LittleEndian.PutUint32(b[24:], checksum.Mask(checksum.Value(b[:24])))
}

// errBadFileHeader is returned for a file whose header does not check.
var errBadFileHeader = errors.New("commit log file header is damaged or not a commit log's")

func checkFileHeader(b []byte, n uint64) error {
	if len(b) < fileHeaderSize {
		return fmt.Errorf("%w: the file is %d B, shorter than its %d B header", errBadFileHeader, len(b), fileHeaderSize)
	}
	if [8]byte(b[:8]) != fileMagic {
		return fmt.Errorf("%w: bad magic %q", errBadFileHeader, b[:8])
	}
	if got := checksum.Unmask(binary.LittleEndian.Uint32(b[24:])); got != checksum.Value(b[:24]) {
		return fmt.Errorf("%w: header checksum mismatch", errBadFileHeader)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return fmt.Errorf("%w: format version %d, this server reads %d", errBadFileHeader, v, formatVersion)
	}
	if got := binary.LittleEndian.Uint64(b[16:]); got != n {
		return fmt.Errorf("%w: it says it is file %d, its name says %d", errBadFileHeader, got, n)
	}
	return nil
}

// putEntryHeader fills h (entryHeaderSize bytes) for data going to off of t.
func putEntryHeader(h []byte, t Target, off int64, data []byte) {
	binary.LittleEndian.PutUint32(h[0:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[8:], t.Stream)
	binary.LittleEndian.PutUint32(h[12:], t.Shard)
	binary.LittleEndian.PutUint64(h[16:], t.Segment)
	binary.LittleEndian.PutUint64(h[24:], uint64(off))
	crc := checksum.Update(checksum.Value(h[8:entryHeaderSize]), data)
	binary.LittleEndian.PutUint32(h[4:], checksum.Mask(crc))
}

// Entry is one entry read back from a commit log file.
type Entry struct {
	Target Target
	Offset int64
	Data   []byte // aliases the file's bytes: valid only during the callback
}

// scanEntries calls fn for every valid entry of b (a whole file after its
// header) in order. It returns the number of bytes of entries read and
// whether the end was clean (zeros after the last entry, or the end of b)
// rather than a header that does not check.
func scanEntries(b []byte, fn func(Entry) error) (used int, clean bool, err error) {
	pos := 0
	for {
		if len(b)-pos < entryHeaderSize {
			return pos, allZero(b[pos:]), nil
		}
		h := b[pos : pos+entryHeaderSize]
		n := int64(binary.LittleEndian.Uint32(h[0:]))
		if n == 0 {
			return pos, allZero(b[pos:]), nil
		}
		if n > int64(len(b)-pos-entryHeaderSize) {
			return pos, false, nil
		}
		data := b[pos+entryHeaderSize : pos+entryHeaderSize+int(n)]
		crc := checksum.Update(checksum.Value(h[8:entryHeaderSize]), data)
		if checksum.Unmask(binary.LittleEndian.Uint32(h[4:])) != crc {
			return pos, false, nil
		}
		off := binary.LittleEndian.Uint64(h[24:])
		if off > 1<<62 {
			return pos, false, nil
		}
		e := Entry{
			Target: Target{Stream: binary.LittleEndian.Uint32(h[8:]), Shard: binary.LittleEndian.Uint32(h[12:]),
				Segment: binary.LittleEndian.Uint64(h[16:])},
			Offset: int64(off),
			Data:   data,
		}
		if err := fn(e); err != nil {
			return pos, false, err
		}
		pos += entryHeaderSize + int(n)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
