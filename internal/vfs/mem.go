package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Mem is an in-memory, crashable FS for tests, safe for concurrent use.
//
// Durability follows a careful reading of POSIX, as on ext4 with
// data=ordered:
//   - A file's bytes (and its size) become durable at Sync. Until then they
//     are readable but lost by Crash.
//   - A directory entry (a file or directory created, renamed or removed in
//     dir) becomes durable at SyncDir(dir). That holds for directories made by
//     MkdirAll too: a new directory survives Crash only once its parent has
//     been synced.
//
// Crash reverts every file and directory to its durable state, the state a
// power loss leaves; CrashTorn does the same but lets a random prefix of each
// file's unsynced tail survive, possibly ending in garbage (a torn write).
// Handles opened before a crash fail with ErrCrashed; mappings made before it
// keep showing the old bytes.
//
// Map returns a slice over the file's backing array, which is allocated with
// room for the whole mapped length and never moves while mapped, so that
// readers may read below a published watermark while a writer appends above
// it, without locks, as they would through a real shared mmap.
type Mem struct {
	mu    sync.Mutex // guards root, every directory node's entry maps, and locks
	root  *memNode
	locks map[string]bool // cleaned paths of the directories held by Lock
	fault atomic.Pointer[FaultFunc]
	// open and mapped count the live handles (opened, not yet closed) and
	// mappings (mapped, not yet unmapped), for tests of resource use.
	open, mapped atomic.Int64
	epoch        atomic.Uint64 // incremented by every crash; inodes of older epochs are dead
}

// NewMem returns an empty Mem holding only the root directory "/" (relative
// names are resolved against it).
func NewMem() *Mem {
	root := newMemDir()
	root.mode = DirMode
	return &Mem{root: root, locks: map[string]bool{}}
}

// Handles returns how many file handles are open (opened and not yet
// closed) and how many mappings are live (mapped and not yet unmapped).
func (m *Mem) Handles() (files, mappings int) {
	return int(m.open.Load()), int(m.mapped.Load())
}

// FaultFunc decides whether a Mem operation fails, for tests of error paths.
// It is called before the operation with op one of "create" (OpenFile that
// creates the file), "open" (OpenFile of an existing file), "fallocate",
// "pwritev", "write", "fdatasync", "mmap" and "syncdir", the path, and n, the
// bytes a write asks to write (0 for the others). A nil error lets the
// operation run. Otherwise the operation fails with err; a write first
// writes the first landed bytes of its n (clipped to 0..n), as a disk that
// fills up part way does, and every other operation has no effect.
type FaultFunc func(op, name string, n int64) (landed int64, err error)

// SetFault installs f (nil removes it). It may be called at any time, from
// any goroutine; f must be safe for concurrent use, and it runs with the
// Mem's locks held, so it must not call the Mem.
func (m *Mem) SetFault(f FaultFunc) {
	if f == nil {
		m.fault.Store(nil)
		return
	}
	m.fault.Store(&f)
}

// inject consults the fault hook for an operation that is not a write.
func (m *Mem) inject(op, name string, n int64) error {
	_, err := m.injectWrite(op, name, n)
	return err
}

// injectWrite consults the fault hook and returns the bytes of n that land
// before the error (n when there is none).
func (m *Mem) injectWrite(op, name string, n int64) (int64, error) {
	f := m.fault.Load()
	if f == nil {
		return n, nil
	}
	landed, err := (*f)(op, name, n)
	if err == nil {
		return n, nil
	}
	return max(0, min(landed, n)), &fs.PathError{Op: op, Path: name, Err: err}
}

// memNode is a directory entry's target: a directory or a file.
type memNode struct {
	mode fs.FileMode // permission bits given at creation, masked; immutable
	// children are the current entries of a directory; durable the entries as
	// of its last SyncDir. Both are guarded by Mem.mu. Nil for a file.
	children map[string]*memNode
	durable  map[string]*memNode
	ino      *memInode // nil for a directory
}

func newMemDir() *memNode {
	return &memNode{children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

func (n *memNode) isDir() bool { return n.ino == nil }

// split cleans name and returns its components below the root.
func split(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup walks to the node named by parts. Callers hold m.mu.
func (m *Mem) lookup(op, name string, parts []string) (*memNode, error) {
	n := m.root
	for _, part := range parts {
		if !n.isDir() {
			return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		c, ok := n.children[part]
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n = c
	}
	return n, nil
}

// dir walks to the directory named by name, failing with ENOTDIR for op
// when it is a file. Callers hold m.mu.
func (m *Mem) dir(op, name string) (*memNode, error) {
	n, err := m.lookup(op, name, split(name))
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return n, nil
}

// parent returns the directory holding the last component of name, and that
// component. Callers hold m.mu.
func (m *Mem) parent(op, name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.EINVAL}
	}
	dir, err := m.lookup(op, name, parts[:len(parts)-1])
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir() {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return dir, parts[len(parts)-1], nil
}

// OpenFile opens or creates a file. Supported flags: O_RDONLY, O_WRONLY,
// O_RDWR, O_CREATE, O_EXCL, O_TRUNC. A directory cannot be opened.
func (m *Mem) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	n, ok := dir.children[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ok && n.isDir():
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		if err := m.inject("create", name, 0); err != nil {
			return nil, err
		}
		n = &memNode{mode: perm & FileMode, ino: &memInode{epoch: m.epoch.Load()}}
		dir.children[base] = n
	default:
		if err := m.inject("open", name, 0); err != nil {
			return nil, err
		}
	}
	f := &memFile{fs: m, ino: n.ino, name: name, writable: writable}
	if flag&os.O_TRUNC != 0 && writable {
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
	}
	m.open.Add(1)
	return f, nil
}

// Rename moves oldname to newname, replacing a file or empty directory at
// newname. It is durable once both parents have been synced.
func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, src, err := m.entry("rename", oldname)
	if err != nil {
		return err
	}
	ndir, nbase, err := m.parent("rename", newname)
	if err != nil {
		return err
	}
	if odir == ndir && obase == nbase {
		return nil
	}
	if src.isDir() && m.contains(src, ndir) {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EINVAL}
	}
	if dst, ok := ndir.children[nbase]; ok {
		switch {
		case dst.isDir() && !src.isDir():
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EISDIR}
		case !dst.isDir() && src.isDir():
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOTDIR}
		case dst.isDir() && len(dst.children) > 0:
			return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOTEMPTY}
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = src
	return nil
}

// entry finds name's parent directory, base name and node, failing with
// fs.ErrNotExist for op when there is none. Callers hold m.mu.
func (m *Mem) entry(op, name string) (dir *memNode, base string, n *memNode, err error) {
	dir, base, err = m.parent(op, name)
	if err != nil {
		return nil, "", nil, err
	}
	n, ok := dir.children[base]
	if !ok {
		return nil, "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return dir, base, n, nil
}

// contains reports whether d is dir or lies below it. Callers hold m.mu.
func (m *Mem) contains(dir, d *memNode) bool {
	if dir == d {
		return true
	}
	for _, c := range dir.children {
		if c.isDir() && m.contains(c, d) {
			return true
		}
	}
	return false
}

// Remove removes a file or an empty directory. Open handles and mappings of
// a removed file keep working.
func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.entry("remove", name)
	if err != nil {
		return err
	}
	if n.isDir() && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll removes name and everything below it; a missing name is not an
// error. Removing "/" empties the root.
func (m *Mem) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := split(name)
	if len(parts) == 0 {
		clear(m.root.children)
		return nil
	}
	dir, err := m.lookup("removeall", name, parts[:len(parts)-1])
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok && pe.Err == fs.ErrNotExist {
			return nil
		}
		return err
	}
	if dir.isDir() {
		delete(dir.children, parts[len(parts)-1])
	}
	return nil
}

// MkdirAll creates name and any missing parents. Each new directory is an
// entry of its parent and survives Crash only after SyncDir of that parent.
func (m *Mem) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, part := range split(name) {
		c, ok := n.children[part]
		if !ok {
			c = newMemDir()
			c.mode = perm & DirMode
			n.children[part] = c
		}
		if !c.isDir() {
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// ReadDir lists the current (not necessarily durable) entries of name, sorted.
func (m *Mem) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.dir("readdir", name)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat reports the current size of a file, or that name is a directory.
func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := split(name)
	n, err := m.lookup("stat", name, parts)
	if err != nil {
		return nil, err
	}
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	if n.isDir() {
		return memInfo{name: base, dir: true, mode: n.mode}, nil
	}
	n.ino.mu.Lock()
	size := n.ino.size
	n.ino.mu.Unlock()
	return memInfo{name: base, size: int64(size), mode: n.mode}, nil
}

// SyncDir makes the current entries of dir durable.
func (m *Mem) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.dir("syncdir", dir)
	if err != nil {
		return err
	}
	if err := m.inject("syncdir", dir, 0); err != nil {
		return err
	}
	n.durable = maps.Clone(n.children)
	return nil
}

// Lock takes an exclusive in-memory lock on the directory dir and creates
// dir/LOCK as the real one does. A second Lock of dir fails with ErrLocked
// until the returned Closer is closed or the Mem crashes (a crash ends the
// process that held the lock).
func (m *Mem) Lock(dir string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.dir("lock", dir)
	if err != nil {
		return nil, err
	}
	key := path.Clean("/" + filepath.ToSlash(dir))
	if m.locks[key] {
		return nil, fmt.Errorf("directory %s is in use by another process: %s is locked (%w)", dir, path.Join(key, "LOCK"), ErrLocked)
	}
	if _, ok := n.children["LOCK"]; !ok {
		n.children["LOCK"] = &memNode{mode: FileMode, ino: &memInode{epoch: m.epoch.Load()}}
	}
	m.locks[key] = true
	return &memLock{m: m, key: key, epoch: m.epoch.Load()}, nil
}

// memLock is a held Mem.Lock.
type memLock struct {
	m     *Mem
	key   string
	epoch uint64 // a lock taken before a crash is already gone
	once  sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		defer l.m.mu.Unlock()
		if l.m.epoch.Load() == l.epoch {
			delete(l.m.locks, l.key)
		}
	})
	return nil
}

// Crash simulates a power loss: every directory reverts to its entries as of
// its last SyncDir and every file to its bytes as of its last Sync. Handles
// opened before Crash fail with ErrCrashed from then on.
func (m *Mem) Crash() { m.crash(nil) }

// CrashTorn is Crash, except that each file written since its last Sync
// keeps part of those writes, chosen by rng: in a quarter of the cases none
// of them, in a quarter all of them (a truncation included), and otherwise,
// where the file has unsynced bytes past the lowest change, a random prefix
// of the tail starting at the lowest unsynced offset, whose last 1..512 bytes
// are replaced by random garbage half the time, as a torn sector leaves them.
// Garbage lands only inside the range written since the last Sync. A fixed
// seed gives the same outcome for the same history.
func (m *Mem) CrashTorn(rng *rand.Rand) { m.crash(rng) }

func (m *Mem) crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	epoch := m.epoch.Add(1)
	clear(m.locks) // the process that held them is gone
	r := reverter{epoch: epoch, rng: rng, inodes: map[*memInode]*memInode{}, dirs: map[*memNode]bool{}}
	m.root = r.dir(m.root)
}

// reverter rebuilds the durable tree after a crash. inodes maps each old
// inode to its replacement so that hard links (one inode under two durable
// names) stay one file; dirs stops at a directory reached twice.
type reverter struct {
	epoch  uint64
	rng    *rand.Rand
	inodes map[*memInode]*memInode
	dirs   map[*memNode]bool
}

func (r *reverter) dir(old *memNode) *memNode {
	r.dirs[old] = true
	n := newMemDir()
	n.mode = old.mode
	for _, name := range slices.Sorted(maps.Keys(old.durable)) { // sorted: rng use is deterministic
		c := old.durable[name]
		if c.isDir() {
			if r.dirs[c] {
				continue
			}
			c = r.dir(c)
		} else {
			ino, ok := r.inodes[c.ino]
			if !ok {
				ino = c.ino.revert(r.epoch, r.rng)
				r.inodes[c.ino] = ino
			}
			c = &memNode{mode: c.mode, ino: ino}
		}
		n.children[name] = c
		n.durable[name] = c
	}
	return n
}

// memInfo is the fs.FileInfo of a Mem file or directory.
type memInfo struct {
	name string
	size int64
	dir  bool
	mode fs.FileMode // permission bits
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | i.mode
	}
	return i.mode
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
