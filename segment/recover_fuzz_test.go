package segment

import (
	"bytes"
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
