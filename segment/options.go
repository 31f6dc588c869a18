package segment

import (
	"fmt"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
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

	// DefaultOpenSegments is 256: the segment mappings the default Cache
	// keeps at once across every Log of the process.
	DefaultOpenSegments = 256

	// MaxRecordSize is 10 MiB: the most key + data of one record that the
	// server accepts (a stream's raised limit, engine.MaxMaxRecord).
	MaxRecordSize = 10 << 20
	// MaxRecordFrameSize is the frame of the largest record the server
	// accepts: the smallest segment size that can hold every record.
	MaxRecordFrameSize = (record.HeaderSize + MaxRecordSize + record.Alignment - 1) &^ (record.Alignment - 1)

	// minSegmentSize keeps a segment able to hold at least a few frames.
	minSegmentSize = 4 << 10
	// maxSegmentSize keeps every file offset within the index's uint32 Pos.
	maxSegmentSize = 1<<32 - record.Alignment
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
	// MaxRecordSize is the most key + data of one record the log must be
	// able to store: Open refuses a SegmentSize that cannot hold the frame
	// of such a record. Default 0 promises nothing: a frame larger than the
	// segment size is refused by Write (ErrFrameTooLarge). The server passes
	// the largest record a stream may allow (MaxRecordSize).
	MaxRecordSize int
	// Sealer makes the data keys of frames added with FlagEncrypted (see
	// Batch.Add); default nil: a batch holding such frames fails with
	// ErrNoSealer. Logs without encrypted frames need none.
	Sealer Sealer
	// Cache bounds the segments mapped at once; default a cache of
	// DefaultOpenSegments shared by every Log of the process that does not
	// name its own. Logs that share a Cache share its bound.
	Cache *Cache
	// Flusher, if set, makes Sync's fdatasync go through it, so that the
	// Logs of a process that share it flush their files together (one
	// io_uring submission for every log syncing at the time) rather than
	// each in its own system call. Default nil: Sync calls fdatasync
	// itself.
	Flusher *vfs.Flusher
}

// CheckSegmentSize says whether size is a usable segment size for a server
// that accepts records of up to MaxRecordSize bytes: an error saying what
// would be right if not. For flags such as --segment-size.
func CheckSegmentSize(size int64) error {
	switch {
	case size < MaxRecordFrameSize:
		return fmt.Errorf("segment size %d B cannot hold the largest record (%d B of key and data take a %d B frame); it must be at least %d B",
			size, MaxRecordSize, MaxRecordFrameSize, MaxRecordFrameSize)
	case size > maxSegmentSize:
		return fmt.Errorf("segment size %d B is too large; it must be at most %d B", size, int64(maxSegmentSize))
	}
	return nil
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
	if o.Cache == nil {
		o.Cache = defaultCache
	}
	maxFrame := int64(record.FrameSize(0, o.MaxRecordSize))
	switch {
	case o.SegmentSize < minSegmentSize || o.SegmentSize > maxSegmentSize:
		return o, fmt.Errorf("segment: segment size %d B is out of range; it must be between %d B and %d B",
			o.SegmentSize, minSegmentSize, int64(maxSegmentSize))
	case o.MaxRecordSize < 0 || o.MaxRecordSize > record.MaxKeyLen+record.MaxDataLen:
		return o, fmt.Errorf("segment: max record size %d B is out of range; it must be between 0 and %d B",
			o.MaxRecordSize, record.MaxKeyLen+record.MaxDataLen)
	case o.MaxRecordSize > 0 && o.SegmentSize < maxFrame:
		return o, fmt.Errorf("segment: segment size %d B cannot hold a %d B record (a %d B frame); it must be at least %d B",
			o.SegmentSize, o.MaxRecordSize, maxFrame, maxFrame)
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
		a += max(min(max(a, o.InitialAllocation), o.MaxAllocationStep), record.Alignment)
	}
	return max(min(a, o.SegmentSize), need)
}
