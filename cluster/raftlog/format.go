package raftlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The byte layout is drawn in doc.go. These constants are part of the
// format and must not change: files written before would not read back.
const (
	fileMagic      = "SLRAFTLG" // the first bytes of every file
	formatVersion  = 1
	fileSumLen     = 8 + 4 + 4 + 8                 // header bytes under the file header's CRC: magic, version, reserved, number
	fileHeaderSize = fileSumLen + 4 + 4            // then the CRC and a reserved word
	recHeaderSize  = 4 + 4 + 1 + 1 + 6 + 8 + 8 + 8 // length, CRC, kind, flags, reserved, group, a, b
	recKindOffset  = 4 + 4                         // the kind byte, zero where nothing was written
	recSumFrom     = recKindOffset                 // a record's CRC covers its header from the kind on, then its payload
	reservedLo     = recKindOffset + 2             // reserved header bytes, which must be zero
	reservedHi     = reservedLo + 6
	groupOff       = reservedHi
	aOff           = groupOff + 8
	bOff           = aOff + 8
	hardStateSize  = 8           // a hard state's payload: the commit index
	commitSize     = 4           // a commit record's payload: the CRC-32C of its batch's record CRCs
	confHeaderSize = 4*4 + 1 + 3 // a conf state's four counts, its auto-leave byte, padding
	flagReset      = 1           // snapshot flag: received from a leader, the snapshot replaces the log
	fileExt        = ".raftlog"  // a file's name is its number in nameDigits digits, then fileExt
	nameDigits     = 20
)

// Record kinds (the kind byte). Part of the format.
const (
	kindEntry     = 1 // a log entry: a=index, b=term, flags=entry type, payload=data
	kindHardState = 2 // a=term, b=vote, payload=commit
	kindSnapshot  = 3 // a=index, b=term, flags=reset, payload=conf state then data
	kindCompact   = 4 // a=compacted index, b=its term
	kindRemove    = 5 // the group and everything stored for it is gone
	kindCommit    = 6 // ends a batch: group=0, a=batch sequence, b=records before it in the batch
	kindMax       = kindCommit
)

// Limits a reader applies, and file numbering.
const (
	maxPayload   = 1<<31 - 1      // the largest payload a record may carry
	maxConfIDs   = maxPayload / 8 // bounds a conf state's counts before they are multiplied
	noFile       = 0              // file numbers start at 1: 0 names no file
	firstFileNum = 1
)

// fileName is the name of the file numbered n.
func fileName(n uint64) string {
	s := strconv.FormatUint(n, 10)
	return strings.Repeat("0", nameDigits-len(s)) + s + fileExt
}

// parseFileName returns the number a file name carries, false for a name
// that is not one of the log's.
func parseFileName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, fileExt)
	if !ok || len(digits) != nameDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && n != noFile
}

// encodeFileHeader fills b (fileHeaderSize bytes) for file n.
func encodeFileHeader(b []byte, n uint64) {
	clear(b[:fileHeaderSize])
	copy(b, fileMagic)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint64(b[16:], n)
	binary.LittleEndian.PutUint32(b[fileSumLen:], checksum.Mask(checksum.Value(b[:fileSumLen])))
}

// verifyFileHeader says what is wrong with the header of file n, nil if
// nothing.
func verifyFileHeader(b []byte, n uint64) error {
	switch {
	case len(b) < fileHeaderSize:
		return fmt.Errorf("the file is %d B, shorter than its %d B header", len(b), fileHeaderSize)
	case string(b[:8]) != fileMagic:
		return fmt.Errorf("magic %q, want %q: not a Raft log file", b[:8], fileMagic)
	case checksum.Unmask(binary.LittleEndian.Uint32(b[fileSumLen:])) != checksum.Value(b[:fileSumLen]):
		return fmt.Errorf("file header checksum mismatch")
	case binary.LittleEndian.Uint32(b[8:]) != formatVersion:
		return fmt.Errorf("format version %d; this server reads %d", binary.LittleEndian.Uint32(b[8:]), formatVersion)
	case binary.LittleEndian.Uint64(b[16:]) != n:
		return fmt.Errorf("the header says file %d, the name says %d", binary.LittleEndian.Uint64(b[16:]), n)
	}
	return nil
}

// record is one record's header fields and payload.
type record struct {
	kind    byte
	flags   byte
	group   uint64
	a, b    uint64
	payload []byte
}

// putRecordHeader fills h (recHeaderSize bytes) for r, whose payload is
// r.payload, and returns the record's masked CRC.
func putRecordHeader(h []byte, r *record) uint32 {
	binary.LittleEndian.PutUint32(h[0:], uint32(len(r.payload)))
	h[recKindOffset] = r.kind
	h[recKindOffset+1] = r.flags
	clear(h[reservedLo:reservedHi])
	binary.LittleEndian.PutUint64(h[groupOff:], r.group)
	binary.LittleEndian.PutUint64(h[aOff:], r.a)
	binary.LittleEndian.PutUint64(h[bOff:], r.b)
	sum := checksum.Mask(checksum.Update(checksum.Value(h[recSumFrom:recHeaderSize]), r.payload))
	binary.LittleEndian.PutUint32(h[4:], sum)
	return sum
}

// decodeRecord reads the record at the start of b. It returns the record,
// its masked CRC and its size, or ok false when b does not start with a
// whole record that checks (zeros, a torn write, damage). The payload
// aliases b.
func decodeRecord(b []byte) (r record, sum uint32, size int, ok bool) {
	if len(b) < recHeaderSize {
		return r, 0, 0, false
	}
	h := b[:recHeaderSize]
	r.kind, r.flags = h[recKindOffset], h[recKindOffset+1]
	if r.kind == 0 || r.kind > kindMax {
		return r, 0, 0, false
	}
	for _, c := range h[reservedLo:reservedHi] {
		if c != 0 {
			return r, 0, 0, false
		}
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if uint64(n) > uint64(len(b)-recHeaderSize) {
		return r, 0, 0, false
	}
	r.payload = b[recHeaderSize : recHeaderSize+int(n)]
	sum = binary.LittleEndian.Uint32(h[4:])
	if checksum.Unmask(sum) != checksum.Update(checksum.Value(h[recSumFrom:recHeaderSize]), r.payload) {
		return r, 0, 0, false
	}
	r.group = binary.LittleEndian.Uint64(h[groupOff:])
	r.a = binary.LittleEndian.Uint64(h[aOff:])
	r.b = binary.LittleEndian.Uint64(h[bOff:])
	return r, sum, recHeaderSize + int(n), true
}

// chainSum adds a record's masked CRC to the running CRC of a batch; buf
// is scratch space that outlives the call, so that nothing is allocated.
func chainSum(chain, sum uint32, buf *[4]byte) uint32 {
	binary.LittleEndian.PutUint32(buf[:], sum)
	return checksum.Update(chain, buf[:])
}

// confStateSize is the encoded size of cs.
func confStateSize(cs *raftpb.ConfState) int {
	return confHeaderSize + 8*(len(cs.GetVoters())+len(cs.GetLearners())+len(cs.GetVotersOutgoing())+len(cs.GetLearnersNext()))
}

// appendConfState appends cs's encoding to b.
func appendConfState(b []byte, cs *raftpb.ConfState) []byte {
	lists := [4][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()}
	for _, l := range lists {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
	}
	auto := byte(0)
	if cs.GetAutoLeave() {
		auto = 1
	}
	b = append(b, auto, 0, 0, 0)
	for _, l := range lists {
		for _, id := range l {
			b = binary.LittleEndian.AppendUint64(b, id)
		}
	}
	return b
}

// decodeConfState reads a conf state from the start of b and returns it
// and the bytes after it.
func decodeConfState(b []byte) (*raftpb.ConfState, []byte, error) {
	if len(b) < confHeaderSize {
		return nil, nil, fmt.Errorf("snapshot payload of %d B is shorter than a conf state", len(b))
	}
	var counts [4]uint64
	total := uint64(0)
	for i := range counts {
		counts[i] = uint64(binary.LittleEndian.Uint32(b[4*i:]))
		total += counts[i]
	}
	if b[16] > 1 || b[17] != 0 || b[18] != 0 || b[19] != 0 {
		return nil, nil, fmt.Errorf("conf state flags %x are not 0 or 1", b[16:20])
	}
	if total > maxConfIDs || total*8 > uint64(len(b)-confHeaderSize) {
		return nil, nil, fmt.Errorf("conf state of %d ids does not fit its %d B", total, len(b))
	}
	cs := &raftpb.ConfState{AutoLeave: new(b[16] == 1)}
	pos := confHeaderSize
	lists := [4]*[]uint64{&cs.Voters, &cs.Learners, &cs.VotersOutgoing, &cs.LearnersNext}
	for i, l := range lists {
		if counts[i] == 0 {
			continue
		}
		ids := make([]uint64, counts[i])
		for k := range ids {
			ids[k] = binary.LittleEndian.Uint64(b[pos:])
			pos += 8
		}
		*l = ids
	}
	return cs, b[pos:], nil
}

// cloneConfState returns a copy of cs that shares nothing with it.
func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	return &raftpb.ConfState{
		Voters:         clone(cs.GetVoters()),
		Learners:       clone(cs.GetLearners()),
		VotersOutgoing: clone(cs.GetVotersOutgoing()),
		LearnersNext:   clone(cs.GetLearnersNext()),
		AutoLeave:      new(cs.GetAutoLeave()),
	}
}

func clone(ids []uint64) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	return append([]uint64(nil), ids...)
}

// varintLen is the length of v as a protobuf varint.
func varintLen(v uint64) uint64 {
	n := uint64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// entrySize is an entry's protobuf encoding size, the measure raft's
// maxSize limits are in: term, index and type, each with a one-byte tag,
// and the data unless there is none.
func entrySize(index, term uint64, typ raftpb.EntryType, dataLen int) uint64 {
	n := 1 + varintLen(term) + 1 + varintLen(index) + 1 + varintLen(uint64(typ))
	if dataLen > 0 {
		n += 1 + varintLen(uint64(dataLen)) + uint64(dataLen)
	}
	return n
}

// zeros is read-only: what allZero compares with.
var zeros [4096]byte

// allZero reports whether b holds only zeros (the preallocated space after
// a file's last record), comparing a block at a time.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
