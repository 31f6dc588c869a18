package vfs

import (
	"fmt"
	"io/fs"

	"github.com/edsrzf/mmap-go"
)

// Map maps the first length bytes of the file read-only and shared with
// mmap-go. The mapping outlives Close of the file. Touching mapped bytes past
// the file's end raises SIGBUS, so readers stay below what was written.
func (f *osFile) Map(length int) (Mapping, error) {
	if length < 0 {
		return nil, &fs.PathError{Op: "mmap", Path: f.name, Err: fmt.Errorf("negative length %d", length)}
	}
	if length == 0 {
		return &osMapping{}, nil // mmap rejects a zero length; nothing to map
	}
	m, err := mmap.MapRegion(f.f, length, mmap.RDONLY, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: f.name, Err: err}
	}
	return &osMapping{m: m}, nil
}

// osMapping adapts mmap.MMap to Mapping.
type osMapping struct {
	m mmap.MMap // nil for a zero-length mapping or after Unmap
}

func (m *osMapping) Bytes() []byte { return m.m }

// Populate prefaults the pages under [lo, hi) with MADV_POPULATE_READ (see
// populate), rounding lo down to a page boundary.
func (m *osMapping) Populate(lo, hi int) {
	if hi <= lo || hi > len(m.m) || lo < 0 {
		return
	}
	populate(m.m[lo&^(pageSize-1) : hi])
}

func (m *osMapping) Unmap() error {
	if m.m == nil {
		return nil
	}
	err := m.m.Unmap()
	m.m = nil
	return err
}
