package record

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
)

func testCipher(t testing.TB, inc, shard uint32) *FrameCipher {
	blk, err := aes.NewCipher(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	return &FrameCipher{AEAD: a, Incarnation: inc, Shard: shard}
}

func sealedFrame(c *FrameCipher, seq uint64, t int64, key, data []byte) []byte {
	f := make([]byte, SealedFrameSize(len(key), len(data)))
	PutUnsealed(f, seq, t, key, data)
	c.Seal(f)
	return f
}

func TestSeal_RoundTripAndStoredFrameDecodes(t *testing.T) {
	c := testCipher(t, 3, 7)
	key, data := []byte("marker-key"), []byte("marker-data: the secret")
	f := sealedFrame(c, 99, 1234, key, data)
	if bytes.Contains(f, key) || bytes.Contains(f, data) {
		t.Fatal("the sealed frame holds the key or data in the clear")
	}
	st, n, err := DecodeFrame(f)
	if err != nil || n != len(f) || st.Flags != FlagEncrypted || st.Seq != 99 || len(st.Key) != len(key) {
		t.Fatalf("stored sealed frame decodes as %+v, %d, %v", st, n, err)
	}
	dst := make([]byte, len(f))
	w, s, err := c.Open(dst, f)
	if err != nil || s != len(f) {
		t.Fatalf("Open: %v (stored %d of %d)", err, s, len(f))
	}
	got, m, err := DecodeFrame(dst[:w])
	if err != nil || m != w || !bytes.Equal(got.Key, key) || !bytes.Equal(got.Data, data) || got.Seq != 99 || got.Time != 1234 || got.Flags != FlagEncrypted {
		t.Fatalf("opened frame %+v, %v", got, err)
	}
	if !bytes.Equal(dst[:w], AppendFrame(nil, 99, 1234, FlagEncrypted, key, data)) {
		t.Fatal("the opened frame is not the plain frame of the record")
	}
}

func TestSeal_AnyAlteredByteFailsAsCorruption(t *testing.T) {
	c := testCipher(t, 3, 7)
	f := sealedFrame(c, 5, 6, []byte("k"), []byte("some data"))
	dst := make([]byte, len(f))
	// Every byte but the CRC (which Open does not read) and the padding.
	end := HeaderSize + 1 + 9 + SealOverhead
	for i := LengthOffset; i < end; i++ {
		bad := bytes.Clone(f)
		bad[i] ^= 0x10
		if _, _, err := c.Open(dst, bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d altered: Open = %v; want a corruption error", i, err)
		}
	}
}

func TestSeal_FrameMovedElsewhereDoesNotOpen(t *testing.T) {
	c := testCipher(t, 3, 7)
	f := sealedFrame(c, 5, 6, []byte("k"), []byte("data"))
	dst := make([]byte, len(f))
	for _, o := range []*FrameCipher{testCipher(t, 3, 8), testCipher(t, 4, 7)} {
		if _, _, err := o.Open(dst, f); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a frame of shard 7, incarnation 3 opened as shard %d, incarnation %d: %v", o.Shard, o.Incarnation, err)
		}
	}
	// Renumbered (and its CRC fixed, as a copy into another position would).
	moved := bytes.Clone(f)
	moved[SeqOffset] = 6
	if _, _, err := c.Open(dst, moved); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a frame moved to sequence number 6 opened: %v", err)
	}
}

func TestSeal_NoAllocation(t *testing.T) {
	c := testCipher(t, 1, 2)
	key, data := []byte("partition-key-16"), make([]byte, 1024)
	f := make([]byte, SealedFrameSize(len(key), len(data)))
	dst := make([]byte, len(f))
	if n := testing.AllocsPerRun(100, func() {
		PutUnsealed(f, 1, 2, key, data)
		c.Seal(f)
		if _, _, err := c.Open(dst, f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per seal and open; want 0", n)
	}
}

// FuzzOpenFrame: Open of any bytes returns a frame in the clear that
// decodes, or an error; never a panic or garbage. The seeds are sealed
// frames, which open.
func FuzzOpenFrame(f *testing.F) {
	c := testCipher(f, 1, 2)
	f.Add(sealedFrame(c, 0, 0, nil, nil))
	f.Add(sealedFrame(c, 1, 1700000000000000000, []byte("partition-key"), []byte("hello, world")))
	f.Add(sealedFrame(c, 1<<40, 9, bytes.Repeat([]byte("k"), 256), bytes.Repeat([]byte{0xff}, 1000)))
	f.Add(AppendFrame(nil, 1, 2, FlagEncrypted, []byte("k"), []byte("not sealed")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := testCipher(t, 1, 2)
		dst := make([]byte, len(b))
		w, s, err := c.Open(dst, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not a corruption error", err)
			}
			return
		}
		if s > len(b) || w > s {
			t.Fatalf("Open wrote %d from %d stored of %d", w, s, len(b))
		}
		fr, n, err := DecodeFrame(dst[:w])
		if err != nil || n != w || fr.Flags&FlagEncrypted == 0 {
			t.Fatalf("opened frame does not decode: %v", err)
		}
	})
}
