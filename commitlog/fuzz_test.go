package commitlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// validFile returns a commit log file numbered 0 holding the given entries.
func validFile(datas ...[]byte) []byte {
	b := make([]byte, fileHeaderSize)
	putFileHeader(b, 0)
	for i, d := range datas {
		var h [entryHeaderSize]byte
		putEntryHeader(h[:], Target{Stream: uint32(i), Shard: 2, Segment: 3}, int64(i)*100, d)
		b = append(b, h[:]...)
		b = append(b, d...)
	}
	return b
}

// FuzzReplay opens a commit log directory holding one file of arbitrary
// bytes. Open either refuses it with an error or replays entries that lie
// inside the file and check; it never panics, and a file that is a valid
// prefix followed by damage replays at least the valid prefix's entries.
func FuzzReplay(f *testing.F) {
	f.Add(validFile([]byte("one"), []byte("two")))
	f.Add(validFile(bytes.Repeat([]byte{7}, 1000)))
	f.Add(append(validFile([]byte("x")), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	f.Add(make([]byte, 100))
	f.Add([]byte("SLCMTLOG"))
	f.Fuzz(func(t *testing.T, file []byte) {
		mem := vfs.NewMem()
		if err := vfs.MkdirAllSync(mem, dir); err != nil {
			t.Fatal(err)
		}
		fh, err := mem.OpenFile(filepath.Join(dir, fileName(0)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt(file, 0); err != nil && len(file) > 0 {
			t.Fatal(err)
		}
		fh.Close()
		a := &applied{}
		l, st, err := Open(Options{FS: mem, Dir: dir, Logger: quiet()}, a)
		if err != nil {
			if len(a.entries) != 0 {
				t.Fatalf("Open failed (%v) after applying %d entries", err, len(a.entries))
			}
			return
		}
		defer l.Close()
		if st.Entries != len(a.entries) {
			t.Fatalf("stats say %d entries, %d applied", st.Entries, len(a.entries))
		}
		for _, e := range a.entries {
			if len(e.Data) == 0 || !bytes.Contains(file, e.Data) {
				t.Fatalf("an applied entry's data (%d B) is not in the file", len(e.Data))
			}
		}
		// The entries of a file replay the same when the file is read again
		// with one more byte of garbage after them.
		if len(file) >= fileHeaderSize && len(a.entries) > 0 {
			var sum int
			for _, e := range a.entries {
				sum += entryHeaderSize + len(e.Data)
			}
			n, _, err := scanEntries(append(bytes.Clone(file[fileHeaderSize:fileHeaderSize+sum]), 0xee), func(Entry) error { return nil })
			if err != nil || n != sum {
				t.Fatalf("the valid prefix rescans to %d B, %v; want %d", n, err, sum)
			}
		}
	})
}
