package segment

import (
	"fmt"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
)

// Defaults of Options; a zero field takes its default.
const (
	// DefaultSegmentSize is 128 MiB: big enough that one shard at its 1 MiB/s
	// quota rolls a segment about every two minutes, small enough that
	// retention frees space in fine steps and a recovery scan stays < 100 ms.
	DefaultSegmentSize = 128 << 20
	// DefaultIndexInterval is 4096 B: Kafka's index.interval.bytes; 32 Ki
	// entries per 128 MiB segment.
	DefaultIndexInterval = index.DefaultInterval
	// DefaultInitialAllocation is 64 KiB: the disk an idle segment costs.
	DefaultInitialAllocation = 64 << 10
	// DefaultMaxAllocationStep is 8 MiB: the largest fallocate step, so a
	// busy segment is extended 15 times on its way to 128 MiB.
	DefaultMaxAllocationStep = 8 << 20

	// minSegmentSize keeps a segment able to hold at least a few frames.
	minSegmentSize = 4 << 10
	// maxSegmentSize keeps every file offset within the index's uint32 Pos.
	maxSegmentSize = 1<<32 - Alignment
)

// Options configure a Log. The zero value is the default configuration.
type Options struct {
	// FS is the file system; default vfs.OS. Tests pass a *vfs.Mem.
	FS vfs.FS
	// SegmentSize is the size at which a segment is sealed and the next one
	// started, and the length every segment is mapped at; default 128 MiB,
	// at least 4 KiB, less than 4 GiB. Larger segments mean fewer files and
	// coarser retention; a single frame larger than it cannot be written.
	SegmentSize int64
	// IndexInterval is the bytes of frames between sparse index entries;
	// default 4096. Smaller means faster seeks and bigger .idx files.
	IndexInterval int
	// InitialAllocation is the disk space a new segment gets up front (what
	// an idle shard costs); default 64 KiB. The allocation then doubles up to
	// steps of MaxAllocationStep, never past SegmentSize.
	InitialAllocation int64
	// MaxAllocationStep is the largest fallocate step; default 8 MiB.
	MaxAllocationStep int64
}

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.IndexInterval == 0 {
		o.IndexInterval = DefaultIndexInterval
	}
	if o.InitialAllocation == 0 {
		o.InitialAllocation = DefaultInitialAllocation
	}
	if o.MaxAllocationStep == 0 {
		o.MaxAllocationStep = DefaultMaxAllocationStep
	}
	switch {
	case o.SegmentSize < minSegmentSize || o.SegmentSize > maxSegmentSize:
		return o, fmt.Errorf("segment: segment size %d B is out of range; it must be between %d B and %d B",
			o.SegmentSize, minSegmentSize, int64(maxSegmentSize))
	case o.IndexInterval < 0:
		return o, fmt.Errorf("segment: index interval %d B is negative; it must be positive (0 means %d)",
			o.IndexInterval, DefaultIndexInterval)
	case o.InitialAllocation < 0 || o.MaxAllocationStep < 0:
		return o, fmt.Errorf("segment: allocation sizes (%d B initial, %d B step) must be positive",
			o.InitialAllocation, o.MaxAllocationStep)
	}
	o.InitialAllocation = min(o.InitialAllocation, o.SegmentSize)
	return o, nil
}

// growAllocation returns the allocated size a segment of cur allocated bytes
// grows to so as to hold need bytes: steps double from InitialAllocation and
// are capped at MaxAllocationStep; the result never passes SegmentSize
// unless need does.
func (o *Options) growAllocation(cur, need int64) int64 {
	a := cur
	for a < need {
		a += max(min(max(a, o.InitialAllocation), o.MaxAllocationStep), Alignment)
	}
	return max(min(a, o.SegmentSize), need)
}
