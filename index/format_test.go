package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicedb/sluice/internal/checksum"
)

// tailOf is the tail a segment holding fs ends with.
func tailOf(fs []frame) Tail {
	if len(fs) == 0 {
		return Tail{}
	}
	last := fs[len(fs)-1]
	return Tail{End: uint64(last.pos) + 64, Count: uint32(len(fs)), LastTime: last.time}
}

func TestMarshal_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 63, 64, 65, 300, 20_000} {
		fs := frames(rng, n, 4096)
		ix := build(fs, 4096, 0)
		base := rng.Uint64()
		tail := tailOf(fs)
		prefix := []byte("unrelated prefix")
		b := ix.Marshal(slices.Clone(prefix), base, tail)
		if !bytes.Equal(b[:len(prefix)], prefix) {
			t.Fatalf("n=%d: Marshal overwrote dst's existing bytes", n)
		}
		b = b[len(prefix):]
		if len(b) != ix.EncodedSize() {
			t.Fatalf("n=%d: Marshal wrote %d bytes, EncodedSize says %d", n, len(b), ix.EncodedSize())
		}
		got, hdr, gotTail, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("n=%d: Unmarshal of Marshal output: %v", n, err)
		}
		if hdr != (Header{Version: Version, Interval: 4096, Base: base}) || gotTail != tail {
			t.Fatalf("n=%d: header %+v tail %+v, want base %d interval 4096 and tail %+v", n, hdr, gotTail, base, tail)
		}
		if !slices.Equal(got.Entries(), ix.Entries()) {
			t.Fatalf("n=%d: entries differ after the round trip", n)
		}
		if again := got.Marshal(nil, base, tail); !bytes.Equal(again, b) {
			t.Fatalf("n=%d: re-marshalling the decoded index gives different bytes", n)
		}
		// The decoded index goes on as the one it was written from.
		next := frame{uint32(n), uint32(tail.End), tail.LastTime + 1}
		ix.MaybeAdd(next.relSeq, next.pos, next.time)
		got.MaybeAdd(next.relSeq, next.pos, next.time)
		if !slices.Equal(got.Entries(), ix.Entries()) {
			t.Fatalf("n=%d: the decoded index adds entries differently from the original", n)
		}
	}
}

func TestMarshal_DoesNotAllocateIntoRoom(t *testing.T) {
	fs := frames(rand.New(rand.NewPCG(9, 9)), 5000, 4096)
	ix := build(fs, 4096, 0)
	dst := make([]byte, 0, ix.EncodedSize())
	if allocs := testing.AllocsPerRun(20, func() { ix.Marshal(dst[:0], 1, tailOf(fs)) }); allocs != 0 {
		t.Fatalf("Marshal into a buffer with room allocates %.1f times", allocs)
	}
}

// validFile is a small, valid .idx file with 5 entries.
func validFile(t *testing.T) []byte {
	t.Helper()
	fs := frames(rand.New(rand.NewPCG(10, 11)), 12, 4096)
	ix := build(fs, 1024, 0)
	if ix.Len() < 4 {
		t.Fatalf("fixture has only %d entries", ix.Len())
	}
	return ix.Marshal(nil, 42, tailOf(fs))
}

// reseal recomputes the CRC so that a change reaches the checks behind it.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], checksum.Mask(checksum.Value(b[:len(b)-4])))
	return b
}

func expectCorrupt(t *testing.T, what string, b []byte, cause error, offset int64) {
	t.Helper()
	ix, _, _, err := Unmarshal(b)
	if ix != nil {
		t.Fatalf("%s: Unmarshal returned an index along with %v", what, err)
	}
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: Unmarshal error %v is not a *CorruptionError matching ErrCorrupt", what, err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("%s: Unmarshal error %v, want cause %v", what, err, cause)
	}
	if offset >= 0 && ce.Offset != offset {
		t.Fatalf("%s: error at offset %d, want %d (%v)", what, ce.Offset, offset, err)
	}
}

func TestUnmarshal_CorruptHeaderAndSize(t *testing.T) {
	valid := validFile(t)
	n := (len(valid) - headerSize - trailerSize) / entrySize
	cases := []struct {
		name    string
		corrupt func(b []byte) []byte
		cause   error
		offset  int64
	}{
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrBadMagic, 0},
		{"empty file", func(b []byte) []byte { return b[:0] }, ErrTruncated, 0},
		{"version 0", func(b []byte) []byte { b[offVersion] = 0; return reseal(b) }, ErrVersion, offVersion},
		{"version 2", func(b []byte) []byte { b[offVersion] = 2; return reseal(b) }, ErrVersion, offVersion},
		{"count larger than the bytes", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[offCount:], uint32(n+1))
			return reseal(b)
		}, ErrTruncated, -1},
		{"count of 2^32-1", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[offCount:], ^uint32(0))
			return b
		}, ErrTruncated, -1},
		{"count smaller than the bytes", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[offCount:], uint32(n-1))
			return reseal(b)
		}, ErrTrailingBytes, int64(headerSize + (n-1)*entrySize + trailerSize)},
		{"garbage appended", func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, ErrTrailingBytes, int64(len(valid))},
		{"zeroed CRC", func(b []byte) []byte { clear(b[len(b)-4:]); return b }, ErrChecksum, int64(len(valid) - 4)},
		{"all zeros", func(b []byte) []byte { clear(b); return b }, ErrBadMagic, 0},
	}
	for _, tc := range cases {
		expectCorrupt(t, tc.name, tc.corrupt(slices.Clone(valid)), tc.cause, tc.offset)
	}
}

func TestUnmarshal_TruncatedAtEveryLength(t *testing.T) {
	valid := validFile(t)
	for l := 0; l < len(valid); l++ {
		expectCorrupt(t, "truncated", slices.Clone(valid[:l]), nil, -1)
	}
}

func TestUnmarshal_FlippedBitAnywhere(t *testing.T) {
	valid := validFile(t)
	for bit := 0; bit < 8*len(valid); bit++ {
		b := slices.Clone(valid)
		b[bit/8] ^= 1 << (bit % 8)
		expectCorrupt(t, "flipped bit", b, nil, -1)
	}
}

// TestUnmarshal_InconsistentContents breaks, with a valid CRC, each invariant
// the writer keeps.
func TestUnmarshal_InconsistentContents(t *testing.T) {
	le := binary.LittleEndian
	entry := func(i int) int { return headerSize + i*entrySize }
	trailer := func(b []byte) int { return len(b) - trailerSize }
	cases := []struct {
		name    string
		corrupt func(b []byte)
		offset  func(b []byte) int
	}{
		{"interval 0", func(b []byte) { le.PutUint32(b[offInterval:], 0) }, func([]byte) int { return offInterval }},
		{"RelSeq repeats", func(b []byte) { copy(b[entry(2):entry(2)+4], b[entry(1):entry(1)+4]) }, func([]byte) int { return entry(2) }},
		{"Pos closer than the interval", func(b []byte) {
			le.PutUint32(b[entry(2)+4:], le.Uint32(b[entry(1)+4:])+1023)
		}, func([]byte) int { return entry(2) + 4 }},
		{"Time goes backwards", func(b []byte) {
			le.PutUint64(b[entry(2)+8:], le.Uint64(b[entry(1)+8:])-1)
		}, func([]byte) int { return entry(2) + 8 }},
		{"next RelSeq not past the last entry", func(b []byte) {
			last := (len(b) - headerSize - trailerSize) / entrySize
			le.PutUint32(b[trailer(b)+16:], le.Uint32(b[entry(last-1):]))
		}, func(b []byte) int { return trailer(b) + 16 }},
		{"end not past the last entry's Pos", func(b []byte) {
			last := (len(b) - headerSize - trailerSize) / entrySize
			le.PutUint64(b[trailer(b):], uint64(le.Uint32(b[entry(last-1)+4:])))
		}, func(b []byte) int { return trailer(b) }},
		{"last time before the last entry's", func(b []byte) {
			last := (len(b) - headerSize - trailerSize) / entrySize
			le.PutUint64(b[trailer(b)+8:], le.Uint64(b[entry(last-1)+8:])-1)
		}, func(b []byte) int { return trailer(b) + 8 }},
	}
	for _, tc := range cases {
		b := validFile(t)
		tc.corrupt(b)
		expectCorrupt(t, tc.name, reseal(b), ErrInconsistent, int64(tc.offset(b)))
	}
	// An empty index must say it holds no frames.
	b := New(4096, 0).Marshal(nil, 0, Tail{End: 100, Count: 3, LastTime: 5})
	expectCorrupt(t, "frames without entries", b, ErrInconsistent, int64(len(b)-trailerSize+16))
}

func TestCorruptionError_Message(t *testing.T) {
	_, _, _, err := Unmarshal([]byte("SLIX\x01\x00\x00\x00"))
	if err == nil || err.Error() != "index: corrupt at offset 8: index: file truncated: file is 8 bytes, the header and trailer alone take 48" {
		t.Fatalf("error message = %q", err)
	}
}
