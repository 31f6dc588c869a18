//go:build linux

package segment

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, or skips
// the test where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestWrite_FullDiskIsTransient(t *testing.T) {
	root := mountTmpfs(t, "2m")
	// A filler takes most of the space, to be freed later.
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{FS: vfs.OS, SegmentSize: 256 << 10, IndexInterval: 4096, InitialAllocation: 64 << 10, MaxAllocationStep: 64 << 10}
	dir := filepath.Join(root, "shard")
	l, _ := openLog(t, dir, opts)
	var b Batch
	var acked []testRecord
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		recs := bigRecords(2, int64(100*i))
		if full = writeBatch(l, &b, recs); full == nil {
			acked = append(acked, recs...)
		}
	}
	if !errors.Is(full, ErrTransient) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("Write on a full disk = %v, want ErrTransient wrapping ENOSPC", full)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err() after running out of space = %v, want nil", err)
	}
	if len(acked) == 0 {
		t.Fatal("nothing fitted on the disk")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	more := bigRecords(2, 1e6)
	if err := writeBatch(l, &b, more); err != nil {
		t.Fatalf("Write after space was freed: %v", err)
	}
	acked = append(acked, more...)
	checkRecords(t, readAll(t, l, 0, 0), acked)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, _ = openLog(t, dir, opts)
	defer l.Close()
	checkRecords(t, readAll(t, l, 0, 0), acked)
}

// truncatedLog is a log on the real file system with three sealed segments
// and an active one, every record read once so that every segment is
// mapped.
func truncatedLog(t *testing.T) (*Log, []testRecord, string) {
	t.Helper()
	dir := t.TempDir()
	l, _ := openLog(t, dir, Options{SegmentSize: 64 << 10, InitialAllocation: 4 << 10, MaxAllocationStep: 16 << 10})
	t.Cleanup(func() { l.Close() })
	var b Batch
	recs := bigRecords(30, 1) // 7 a segment: 5 segments, the last one active
	for i := 0; i < len(recs); i += 3 {
		appendBatch(t, l, &b, recs[i:min(i+3, len(recs))], true)
	}
	checkRecords(t, readAll(t, l, 0, 0), recs)
	return l, recs, dir
}

func TestRead_TruncatedMappedSegmentIsCorruptionNotCrash(t *testing.T) {
	for _, which := range []string{"sealed", "active"} {
		t.Run(which, func(t *testing.T) {
			l, recs, _ := truncatedLog(t)
			segs := l.segments()
			s := segs[1]
			if which == "active" {
				s = segs[len(segs)-1]
			}
			if s.m.Load() == nil {
				t.Fatal("the segment is not mapped after a read")
			}
			if err := os.Truncate(s.path, 0); err != nil {
				t.Fatal(err)
			}
			var v View
			err := l.Read(s.base, 0, 0, &v)
			var ce *record.CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, record.ErrCorrupt) || !errors.Is(err, ErrMappingFault) {
				t.Fatalf("Read of a truncated mapped segment = %v, want a *CorruptionError for a mapping fault", err)
			}
			if ce.Path != s.path || ce.Offset < 0 || ce.Offset >= 64<<10 {
				t.Fatalf("corruption at %s offset %d, want %s within the segment", ce.Path, ce.Offset, s.path)
			}
			if v.Count != 0 || v.Frames != nil {
				t.Fatalf("a failed read left %d frames in the view", v.Count)
			}
			if !errors.Is(l.Err(), ErrMappingFault) {
				t.Fatalf("Err() = %v, want the mapping fault", l.Err())
			}
			// A second read answers from the size check, without a fault.
			if err := l.Read(s.base, 0, 0, &v); !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("second Read = %v, want ErrCorrupt", err)
			}
			// Every other segment still reads.
			if err := l.Read(segs[0].base, 0, 0, &v); err != nil || v.Count != 7 {
				t.Fatalf("Read of an intact segment = %d frames, %v; want 7", v.Count, err)
			}
			checkRecords(t, viewRecords(t, &v), recs[:7])
			v.Release()
			// The writer is fenced: the log's files cannot be trusted.
			var b Batch
			if err := writeBatch(l, &b, bigRecords(1, 1e6)); !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("Write after the fault = %v, want the fencing corruption", err)
			}
		})
	}
}

func TestRead_TruncatedUnmappedSegmentIsCorruption(t *testing.T) {
	l, _, dir := truncatedLog(t)
	s := l.segments()[2]
	if !l.opts.Cache.evict(s) {
		t.Fatal("an unleased segment was not evicted")
	}
	if err := os.Truncate(filepath.Join(dir, segName(s.base)), 100); err != nil {
		t.Fatal(err)
	}
	var v View
	if err := l.Read(s.base, 0, 0, &v); !errors.Is(err, record.ErrCorrupt) || !errors.Is(l.Err(), record.ErrCorrupt) {
		t.Fatalf("Read of a truncated unmapped segment = %v (log %v), want ErrCorrupt", err, l.Err())
	}
}

func TestView_GuardTurnsFaultIntoError(t *testing.T) {
	l, _, _ := truncatedLog(t)
	s := l.segments()[1]
	var v View
	if err := l.Read(s.base, 0, 0, &v); err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	if err := os.Truncate(s.path, 0); err != nil {
		t.Fatal(err)
	}
	sum := 0
	err := v.Guard(func() {
		for _, c := range v.Frames {
			sum += int(c)
		}
	})
	if !errors.Is(err, ErrMappingFault) {
		t.Fatalf("Guard over a truncated view = %v, want ErrMappingFault", err)
	}
	if err := Guard(func() { sum += int(v.Frames[len(v.Frames)-1]) }); !errors.Is(err, ErrMappingFault) {
		t.Fatalf("package Guard over a truncated view = %v, want ErrMappingFault", err)
	}
	// Other panics are not swallowed.
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("a panic that is not a fault was swallowed by Guard")
		}
	}()
	_ = v.Guard(func() { panic("not a fault") })
}

// viewRecords decodes the frames of v.
func viewRecords(t *testing.T, v *View) []testRecord {
	t.Helper()
	var out []testRecord
	it := v.Iter()
	for f, ok := it.Next(); ok; f, ok = it.Next() {
		out = append(out, testRecord{seq: f.Seq, t: f.Time, flags: f.Flags, key: append([]byte(nil), f.Key...), data: append([]byte(nil), f.Data...)})
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return out
}

func TestLog_FilesArePrivate(t *testing.T) {
	for _, umask := range []int{0, 0o022} {
		old := syscall.Umask(umask)
		root := t.TempDir()
		dir := filepath.Join(root, "a", "shard")
		l, _ := openLog(t, dir, smallOpts(vfs.OS))
		var b Batch
		appendBatch(t, l, &b, bigRecords(10, 1), true) // rolls once: a sealed segment and its .idx
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		syscall.Umask(old)
		n := 0
		err := filepath.WalkDir(filepath.Join(root, "a"), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := vfs.FileMode
			if d.IsDir() {
				want = vfs.DirMode
			}
			if fi.Mode().Perm() != want {
				t.Errorf("umask %03o: %s has mode %v, want %v", umask, path, fi.Mode().Perm(), want)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 6 { // a, shard, 2 segments, an .idx, the clean marker
			t.Fatalf("walked %d entries, want at least 6", n)
		}
	}
}
