package segment

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// FuzzRecover: recovery of arbitrary bytes as the active segment returns a
// prefix of valid frames that re-encodes to exactly the same bytes, leaves
// zeros after it, never fails and never panics.
func FuzzRecover(f *testing.F) {
	var log []byte
	for i := range 6 {
		log = append(log, record.AppendFrame(nil, uint64(100+i), int64(i*10), 0, []byte("key"), bytes.Repeat([]byte{byte(i)}, i*7))...)
	}
	f.Add(uint64(100), log)
	f.Add(uint64(100), log[:len(log)-9])                       // torn tail
	f.Add(uint64(100), append(append([]byte{}, log...), 1, 2)) // garbage after the end
	f.Add(uint64(101), log)                                    // first frame is not the base
	f.Add(uint64(0), make([]byte, 64))
	f.Add(uint64(0), []byte{})
	bad := append([]byte{}, log...)
	bad[40] ^= 1
	f.Add(uint64(100), bad)
	f.Fuzz(func(t *testing.T, base uint64, b []byte) {
		base %= 1 << 62
		mem := vfs.NewMem()
		if err := mem.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := segPath(testDir, base)
		file, err := mem.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		writeSynced(t, file, b, 0)
		file.Close()
		if err := mem.SyncDir(testDir); err != nil {
			t.Fatal(err)
		}

		l, rec, err := Open(testDir, Options{FS: mem, SegmentSize: minSegmentSize})
		if err != nil {
			t.Fatalf("recovery of %d bytes failed: %v", len(b), err)
		}
		defer l.Close()
		first, next := l.Bounds()
		got := readAll(t, l, 0, 0)
		if first != base || next != base+uint64(len(got)) {
			t.Fatalf("bounds [%d, %d) for %d records from base %d", first, next, len(got), base)
		}
		var enc []byte
		for _, r := range got {
			enc = append(enc, record.AppendFrame(nil, r.seq, r.t, r.flags, r.key, r.data)...)
		}
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("the %d recovered records do not re-encode to a prefix of the input", len(got))
		}
		if rec.ScannedBytes != int64(len(enc)) {
			t.Fatalf("recovery scanned %d bytes of frames, the records take %d", rec.ScannedBytes, len(enc))
		}
		if tail := fileTail(t, mem, path, int64(len(enc))); !bytes.Equal(tail, make([]byte, len(tail))) {
			t.Fatalf("%d bytes after the recovered frames are not zero", len(tail))
		}
		if (rec.TruncatedBytes > 0) != (lastNonZero(b[len(enc):]) > 0) {
			t.Fatalf("recovery %+v, but the input has %d non-zero bytes after the frames", rec, lastNonZero(b[len(enc):]))
		}
	})
}

// FuzzRecoverSealed: recovery of arbitrary bytes after a key header, as the
// active segment of a sealed log, keeps a prefix of them as stored, never
// fails and never panics; each kept sealed frame either opens to a frame
// whose CRC holds or fails as a corruption, never as garbage.
func FuzzRecoverSealed(f *testing.F) {
	ts := newTestSealer()
	blob, dk, _ := ts.NewKey()
	k := dk.(*testDataKey)
	var log []byte
	for i := range 6 {
		fr := make([]byte, record.SealedFrameSize(3, i*7))
		record.PutUnsealed(fr, uint64(100+i), int64(i*10), []byte("key"), bytes.Repeat([]byte{byte(i)}, i*7))
		k.fc.Seal(fr)
		log = append(log, fr...)
	}
	f.Add(log)
	f.Add(log[:len(log)-9])
	bad := bytes.Clone(log)
	bad[40] ^= 1
	f.Add(bad)
	f.Add(append(record.AppendFrame(nil, 100, 1, 0, []byte("k"), []byte("plain")), log...))
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := vfs.NewMem()
		if err := mem.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		file, err := mem.OpenFile(segPath(testDir, 100), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		writeSynced(t, file, append(appendKeyHeader(nil, blob), b...), 0)
		file.Close()
		mem.SyncDir(testDir)
		l, _, err := Open(testDir, Options{FS: mem, SegmentSize: minSegmentSize, Sealer: ts})
		if err != nil {
			t.Fatalf("recovery of %d bytes failed: %v", len(b), err)
		}
		defer l.Close()
		first, next := l.Bounds()
		var stored []byte
		var v View
		defer v.Release()
		for seq := first; seq < next; seq = v.Next {
			if err := l.Read(seq, 0, 0, &v); err != nil || v.Count == 0 {
				t.Fatalf("Read(%d): %v", seq, err)
			}
			if !bytes.Equal(v.KeyBlob(), blob) {
				t.Fatal("the view does not carry the segment's wrapped key")
			}
			stored = append(stored, v.Frames...)
			for off := 0; off < len(v.Frames); {
				n := record.FrameLen(v.Frames[off:])
				fr := v.Frames[off : off+n]
				if record.FrameFlags(fr)&record.FlagEncrypted != 0 {
					dst := make([]byte, n)
					w, _, err := k.fc.Open(dst, fr)
					if err == nil {
						if _, m, err := record.DecodeFrame(dst[:w]); err != nil || m != w {
							t.Fatalf("an opened frame does not decode: %v", err)
						}
					} else if !errors.Is(err, record.ErrCorrupt) {
						t.Fatalf("open: %v is no corruption error", err)
					}
				}
				off += n
			}
		}
		if !bytes.HasPrefix(b, stored) {
			t.Fatalf("the %d recovered bytes of frames are not a prefix of the input", len(stored))
		}
	})
}
