package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/sluicedb/sluice/internal/checksum"
)

func TestFrameSize_Padded(t *testing.T) {
	cases := []struct{ key, data, want int }{
		{0, 0, 32},
		{1, 0, 32},
		{4, 0, 32},
		{4, 1, 40},
		{16, 100, 144},
		{256, 1 << 20, HeaderSize + 256 + 1<<20 + 4},
	}
	for _, c := range cases {
		if got := FrameSize(c.key, c.data); got != c.want {
			t.Errorf("FrameSize(%d, %d) = %d, want %d", c.key, c.data, got, c.want)
		}
	}
}

func TestDecodeFrame_RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name      string
		key, data []byte
		flags     uint16
		seq       uint64
		arrival   int64
	}{
		{"empty", nil, nil, 0, 0, 0},
		{"key only", []byte("k"), nil, 0, 1, 5},
		{"encrypted", []byte("partition"), []byte("payload"), FlagEncrypted, 1 << 40, -7},
		{"both flags", []byte("p"), []byte("x"), FlagEncrypted | FlagCompressed, 99, 1},
		{"max key", bytes.Repeat([]byte("k"), MaxKeyLen), []byte("d"), 0, 3, 1e18},
		{"256 char key, 1 MiB data", bytes.Repeat([]byte("é"), 128), randBytes(rng, 1<<20), 0, 12, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := AppendFrame(nil, c.seq, c.arrival, c.flags, c.key, c.data)
			if len(b)%Alignment != 0 {
				t.Fatalf("frame of %d B is not %d-aligned", len(b), Alignment)
			}
			// Trailing bytes after the frame must not matter.
			f, n, err := DecodeFrame(append(b, 1, 2, 3))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) || f.Seq != c.seq || f.Time != c.arrival || f.Flags != c.flags ||
				!bytes.Equal(f.Key, c.key) || !bytes.Equal(f.Data, c.data) {
				t.Fatalf("decoded (%d, %d, %d, %d B key, %d B data, n=%d), want (%d, %d, %d, %d, %d, %d)",
					f.Seq, f.Time, f.Flags, len(f.Key), len(f.Data), n,
					c.seq, c.arrival, c.flags, len(c.key), len(c.data), len(b))
			}
		})
	}
}

func TestDecodeFrame_EndOfData(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {0, 0, 0}, make([]byte, 8), make([]byte, 4096)} {
		if _, _, err := DecodeFrame(b); err != ErrEndOfData {
			t.Errorf("DecodeFrame(%d zero bytes) = %v, want ErrEndOfData", len(b), err)
		}
	}
}

func TestDecodeFrame_Corrupt(t *testing.T) {
	valid := func() []byte { return AppendFrame(nil, 7, 8, 0, []byte("key"), []byte("some data!")) }
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"bad crc", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"flipped data bit", func(b []byte) []byte { b[HeaderSize+4] ^= 0x10; return b }},
		{"length too small", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 3); return b }},
		{"length huge", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 0xffffffff); return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-8] }},
		{"short garbage", func(b []byte) []byte { return []byte{1, 2, 3} }},
		{"unknown flag", func(b []byte) []byte { return resum(setU16(b, FlagsOffset, 1<<5)) }},
		{"key longer than length", func(b []byte) []byte { return resum(setU16(b, KeyLenOffset, 200)) }},
		{"non-zero padding", func(b []byte) []byte { b[len(b)-1] = 9; return resum(b) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := DecodeFrame(c.mutate(valid()))
			var ce *CorruptionError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("DecodeFrame = %v, want a *CorruptionError matching ErrCorrupt", err)
			}
		})
	}
}

func TestPutFrame_PanicsOnOversizeKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PutFrame accepted a key longer than MaxKeyLen")
		}
	}()
	PutFrame(make([]byte, 1<<14), 0, 0, 0, make([]byte, MaxKeyLen+1), nil)
}

func TestFrameIter_StopsAtCorruption(t *testing.T) {
	var b []byte
	for i := range 5 {
		b = append(b, AppendFrame(nil, uint64(i), int64(i), 0, []byte("k"), []byte("v"))...)
	}
	b[2*32+HeaderSize] ^= 1 // third frame's key
	it := NewFrameIter(b)
	n := 0
	for {
		f, ok := it.Next()
		if !ok {
			break
		}
		if f.Seq != uint64(n) {
			t.Fatalf("frame %d has seq %d", n, f.Seq)
		}
		n++
	}
	var ce *CorruptionError
	if n != 2 || !errors.As(it.Err(), &ce) || ce.Offset != 64 {
		t.Fatalf("iterated %d frames, err %v; want 2 frames and a corruption at offset 64", n, it.Err())
	}
}

func setU16(b []byte, off int, v uint16) []byte {
	binary.LittleEndian.PutUint16(b[off:], v)
	return b
}

// resum recomputes the CRC of a hand-edited frame so that a check other than
// the CRC has to catch the edit.
func resum(b []byte) []byte {
	n := SeqOffset + int(binary.LittleEndian.Uint32(b[LengthOffset:]))
	size := (n + Alignment - 1) &^ (Alignment - 1)
	if size > len(b) {
		size = len(b)
	}
	binary.LittleEndian.PutUint32(b, checksum.Mask(checksum.Value(b[LengthOffset:size])))
	return b
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n:n]
}
