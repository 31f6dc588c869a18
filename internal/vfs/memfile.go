package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// memInode is the content of one Mem file: the bytes as written and, apart,
// the bytes as of the last Sync.
type memInode struct {
	epoch uint64 // the Mem epoch it belongs to; immutable

	mu sync.Mutex // guards every field below
	// buf is the backing array: len(buf) == cap(buf), the file is buf[:size]
	// and buf[size:] is all zeros (so growing the file reads zeros).
	buf  []byte
	size int
	// synced is a private copy of the file as of the last Sync.
	synced []byte
	// dirty says bytes changed since the last Sync, the lowest at dirtyLo.
	dirty   bool
	dirtyLo int
	// maps are the live mappings. A mapping whose array is no longer buf
	// (the file grew past it) is kept up to date by mirror.
	maps []*memMapping
}

// markDirty records a change at or after off.
func (ino *memInode) markDirty(off int) {
	if !ino.dirty || off < ino.dirtyLo {
		ino.dirtyLo = off
	}
	ino.dirty = true
}

// grow makes buf at least n bytes long. The file's bytes are copied to the
// new array; mappings of the old one are kept current by mirror.
func (ino *memInode) grow(n int) {
	if n <= len(ino.buf) {
		return
	}
	nb := make([]byte, max(n, 2*len(ino.buf), 4096))
	copy(nb, ino.buf[:ino.size])
	ino.buf = nb
}

// mirror copies buf[lo:hi] into every live mapping over an older array.
func (ino *memInode) mirror(lo, hi int) {
	if len(ino.buf) == 0 {
		return
	}
	for _, m := range ino.maps {
		if len(m.b) == 0 || &m.b[0] == &ino.buf[0] || lo >= len(m.b) {
			continue
		}
		copy(m.b[lo:min(hi, len(m.b))], ino.buf[lo:hi])
	}
}

func (ino *memInode) writeAt(b []byte, off int) {
	if len(b) == 0 {
		return // like pwrite, an empty write does not extend the file
	}
	end := off + len(b)
	ino.grow(end)
	copy(ino.buf[off:end], b)
	if end > ino.size {
		ino.markDirty(min(off, ino.size))
		ino.size = end
	} else {
		ino.markDirty(off)
	}
	ino.mirror(off, end)
}

func (ino *memInode) truncate(n int) {
	switch {
	case n < ino.size:
		clear(ino.buf[n:ino.size])
		ino.mirror(n, ino.size)
		ino.markDirty(n)
	case n > ino.size:
		ino.grow(n)
		ino.markDirty(ino.size)
	}
	ino.size = n
}

func (ino *memInode) sync() {
	if !ino.dirty {
		return
	}
	lo := min(ino.dirtyLo, len(ino.synced), ino.size)
	ino.synced = append(ino.synced[:lo], ino.buf[lo:ino.size]...)
	ino.dirty = false
}

// revert returns a fresh inode for epoch holding what a crash leaves of ino:
// its synced bytes, plus (with rng) a random prefix of the unsynced tail
// that may end in garbage.
func (ino *memInode) revert(epoch uint64, rng *rand.Rand) *memInode {
	ino.mu.Lock()
	defer ino.mu.Unlock()
	data := append([]byte(nil), ino.synced...)
	if rng != nil && ino.dirty {
		lo := min(ino.dirtyLo, len(ino.synced), ino.size)
		tail := ino.size - lo
		switch r := rng.IntN(4); {
		case r == 1:
			data = append(data[:0], ino.buf[:ino.size]...) // all of it reached the disk
		case r == 0 || tail == 0:
			// none of it did (a shrink has no tail: it landed or it did not)
		default:
			k := 1 + rng.IntN(tail) // a torn prefix
			if lo+k > len(data) {
				data = append(data, make([]byte, lo+k-len(data))...)
			}
			copy(data[lo:lo+k], ino.buf[lo:lo+k])
			if rng.IntN(2) == 0 {
				g := 1 + rng.IntN(min(k, 512))
				for i := lo + k - g; i < lo+k; i++ {
					data[i] = byte(rng.Uint32())
				}
			}
		}
	}
	return &memInode{epoch: epoch, buf: data, size: len(data), synced: append([]byte(nil), data...)}
}

// memFile is a handle on a memInode.
type memFile struct {
	fs       *Mem
	ino      *memInode
	name     string
	writable bool
	closed   atomic.Bool
}

// lock locks the inode and checks the handle is usable; on error the inode
// is left unlocked.
func (f *memFile) lock(op string, write bool) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if write && !f.writable {
		return &fs.PathError{Op: op, Path: f.name, Err: ErrNotWritable}
	}
	f.ino.mu.Lock()
	if f.ino.epoch != f.fs.epoch.Load() {
		f.ino.mu.Unlock()
		return &fs.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return nil
}

// lockAt is lock for an operation that reaches offset off: it first refuses
// an offset outside [0, 1 TiB].
func (f *memFile) lockAt(op string, off int64, write bool) error {
	if err := checkOff(op, f.name, off); err != nil {
		return err
	}
	return f.lock(op, write)
}

func checkOff(op, name string, off int64) error {
	if off < 0 || off > 1<<40 {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("offset %d out of range [0, 1 TiB]", off)}
	}
	return nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.lockAt("write", off, true); err != nil {
		return 0, err
	}
	defer f.ino.mu.Unlock()
	landed, err := f.fs.injectWrite("write", f.name, int64(len(b)))
	f.ino.writeAt(b[:landed], int(off))
	return int(landed), err
}

// WritevAt writes the buffers in order under one lock, so a crash sees all
// or a prefix of them.
func (f *memFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	if err := f.lockAt("pwritev", off, true); err != nil {
		return 0, err
	}
	defer f.ino.mu.Unlock()
	want := 0
	for _, b := range bufs {
		want += len(b)
	}
	landed, err := f.fs.injectWrite("pwritev", f.name, int64(want))
	total := 0
	for _, b := range bufs {
		b = b[:min(len(b), int(landed)-total)]
		f.ino.writeAt(b, int(off)+total)
		total += len(b)
	}
	return total, err
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.lockAt("read", off, false); err != nil {
		return 0, err
	}
	defer f.ino.mu.Unlock()
	if off >= int64(f.ino.size) {
		return 0, io.EOF
	}
	n := copy(b, f.ino.buf[off:f.ino.size])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Sync() error {
	if err := f.lock("fdatasync", false); err != nil {
		return err
	}
	defer f.ino.mu.Unlock()
	if err := f.fs.inject("fdatasync", f.name, 0); err != nil {
		return err
	}
	f.ino.sync()
	return nil
}

func (f *memFile) Allocate(off, n int64) error {
	if n < 0 {
		return &fs.PathError{Op: "fallocate", Path: f.name, Err: fmt.Errorf("negative length %d", n)}
	}
	if err := f.lockAt("fallocate", off+n, true); err != nil {
		return err
	}
	defer f.ino.mu.Unlock()
	if err := f.fs.inject("fallocate", f.name, n); err != nil {
		return err
	}
	if end := int(off + n); end > f.ino.size {
		f.ino.truncate(end)
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.lockAt("truncate", size, true); err != nil {
		return err
	}
	defer f.ino.mu.Unlock()
	f.ino.truncate(int(size))
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.lock("stat", false); err != nil {
		return 0, err
	}
	defer f.ino.mu.Unlock()
	return int64(f.ino.size), nil
}

// Map returns a slice of length bytes over the file's backing array, grown
// first to at least length so that it never moves while mapped.
func (f *memFile) Map(length int) (Mapping, error) {
	if length < 0 {
		return nil, &fs.PathError{Op: "mmap", Path: f.name, Err: fmt.Errorf("negative length %d", length)}
	}
	if err := checkOff("mmap", f.name, int64(length)); err != nil {
		return nil, err
	}
	if err := f.lock("mmap", false); err != nil {
		return nil, err
	}
	defer f.ino.mu.Unlock()
	if err := f.fs.inject("mmap", f.name, 0); err != nil {
		return nil, err
	}
	f.ino.grow(length)
	m := &memMapping{fs: f.fs, ino: f.ino, b: f.ino.buf[:length:length]}
	f.ino.maps = append(f.ino.maps, m)
	f.fs.mapped.Add(1)
	return m, nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.fs.open.Add(-1)
	return nil
}

// memMapping is a Mem file's Mapping.
type memMapping struct {
	fs  *Mem
	ino *memInode
	b   []byte // immutable; its array never moves
}

func (m *memMapping) Bytes() []byte { return m.b }

// Populate does nothing: the bytes are in memory already.
func (m *memMapping) Populate(lo, hi int) {}

func (m *memMapping) Unmap() error {
	m.ino.mu.Lock()
	defer m.ino.mu.Unlock()
	for i, x := range m.ino.maps {
		if x == m {
			m.ino.maps = append(m.ino.maps[:i], m.ino.maps[i+1:]...)
			m.fs.mapped.Add(-1)
			return nil
		}
	}
	return fmt.Errorf("vfs: unmap of a mapping that is not mapped")
}
