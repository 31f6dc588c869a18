package raftlog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/internal/vfs"
)

// logFile is one file of the log.
type logFile struct {
	num  uint64
	path string
	f    vfs.File
	size int64 // its size when it was opened or created

	// pins counts the groups that may have live entries in the file; it
	// only falls once the file is no longer the head.
	pins atomic.Int64
	// readers counts the reads under way; the handle is closed once the
	// file is retired and the last of them is done.
	readers   atomic.Int32
	retired   atomic.Bool
	closeOnce sync.Once
}

// releaseReader ends a read of f.
func (f *logFile) releaseReader() {
	if f.readers.Add(-1) == 0 && f.retired.Load() {
		f.close()
	}
}

// retire closes f once no read is under way.
func (f *logFile) retire() {
	f.retired.Store(true)
	if f.readers.Load() == 0 {
		f.close()
	}
}

func (f *logFile) close() { f.closeOnce.Do(func() { _ = f.f.Close() }) }

// createFile creates file num of size bytes (preallocated, zeros after the
// header) and makes its name durable. Its header becomes durable with the
// first batch's sync.
func (l *Log) createFile(num uint64, size int64) (*logFile, error) {
	fsys := l.opts.FS
	path := l.path(num)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, vfs.FileMode)
	if err != nil {
		return nil, fmt.Errorf("raftlog: create %s: %w", path, err)
	}
	fail := func(err error) (*logFile, error) {
		_ = f.Close()
		_ = fsys.Remove(path)
		return nil, err
	}
	if err := f.Allocate(0, size); err != nil {
		return fail(fmt.Errorf("raftlog: allocate %s to %d B: %w", path, size, err))
	}
	var h [fileHeaderSize]byte
	encodeFileHeader(h[:], num)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		return fail(fmt.Errorf("raftlog: write the header of %s: %w", path, err))
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		return fail(fmt.Errorf("raftlog: sync %s: %w", l.dir, err))
	}
	return &logFile{num: num, path: path, f: f, size: size}, nil
}

// diskRead is one entry Entries reads from a file.
type diskRead struct {
	at    int // its place in the result
	index uint64
	s     slot
}

// diskEntry holds an entry read from disk and the values its fields point
// to, so that the entries of one read take one allocation.
type diskEntry struct {
	e           raftpb.Entry
	index, term uint64
	typ         raftpb.EntryType
}

// errShortRead is the cause of a read that found fewer bytes than the
// index promised.
var errShortRead = errors.New("the record is cut short")

// readEntries reads the entries of reads from their files into out. total
// is the size of their records. Records that lie back to back in a file (an
// update's entries do) are read with one pread. Every record is checked
// (CRC, kind, group, index, term) before its entry is returned.
func (l *Log) readEntries(group uint64, reads []diskRead, out []*raftpb.Entry, total int) error {
	if l.closedFlag.Load() {
		return ErrClosed
	}
	buf := make([]byte, total)
	ents := make([]diskEntry, len(reads))
	pos := 0 // where reads[i]'s record goes in buf
	for i := 0; i < len(reads); {
		// The run of records from reads[i] that follow each other in one file.
		first := &reads[i]
		j, end := i+1, first.s.off+recHeaderSize+int64(first.s.n)
		for j < len(reads) && reads[j].s.file == first.s.file && reads[j].s.off == end {
			end += recHeaderSize + int64(reads[j].s.n)
			j++
		}
		run := buf[pos : pos+int(end-first.s.off)]
		if m, err := first.s.file.f.ReadAt(run, first.s.off); m < len(run) {
			if err == nil {
				err = errShortRead
			}
			return fmt.Errorf("raftlog: read entries %d to %d of group %d from %s at %d: %w",
				first.index, reads[j-1].index, group, first.s.file.path, first.s.off, err)
		}
		for ; i < j; i++ {
			rd := &reads[i]
			n := recHeaderSize + int(rd.s.n)
			b := buf[pos : pos+n : pos+n]
			pos += n
			r, _, _, ok := decodeRecord(b)
			if !ok || r.kind != kindEntry || r.group != group || r.a != rd.index || r.b != rd.s.term {
				return &CorruptionError{Path: rd.s.file.path, Offset: rd.s.off,
					Err: fmt.Errorf("entry %d of group %d does not check", rd.index, group)}
			}
			d := &ents[i]
			d.index, d.term, d.typ = rd.index, rd.s.term, rd.s.typ
			d.e.Index, d.e.Term, d.e.Type = &d.index, &d.term, &d.typ
			if len(r.payload) > 0 {
				d.e.Data = r.payload
			}
			out[rd.at] = &d.e
		}
	}
	l.stats.diskReads.Add(uint64(len(reads)))
	return nil
}
