package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
)

// The key header of a segment that holds sealed frames (drawn in doc.go).
// Part of the on-disk format.
const (
	keyHeaderMagic = "SLKH"
	// keyHeaderMark sits where a frame has its length word: it is out of
	// every frame's bounds, so the header can never be taken for a frame
	// nor a frame for the header.
	keyHeaderMark    = 0xFFFF_FFFF
	keyHeaderVersion = 1
	// KeyHeaderSize is the bytes of a key header; a segment's first frame
	// follows it.
	KeyHeaderSize = 16 + 2*keySlotSize
	keySlotSize   = 248
	keySlotFixed  = 4 + 2 + 2 // generation, blob length, reserved
	// MaxKeyBlob is the longest wrapped data key a key header holds: room
	// for AWS KMS' ciphertext blobs (about 184 bytes) as well as sluice's own.
	MaxKeyBlob = keySlotSize - keySlotFixed - 4
)

// keyHeader is the current slot of a segment's key header.
type keyHeader struct {
	blob []byte // the wrapped data key
	gen  uint32 // the slot's generation: the higher valid one is current
	slot int    // 0 or 1
}

var errKeyHeader = errors.New("key header has no intact slot")

// isKeyHeader reports whether b, a segment's first bytes, begins with a key
// header.
func isKeyHeader(b []byte) bool {
	return len(b) >= 8 && string(b[:4]) == keyHeaderMagic && binary.LittleEndian.Uint32(b[4:]) == keyHeaderMark
}

// parseKeyHeader reads the current slot of the key header at the start of b.
func parseKeyHeader(b []byte) (*keyHeader, error) {
	if len(b) < KeyHeaderSize {
		return nil, fmt.Errorf("%w: %d B, a key header is %d", errKeyHeader, len(b), KeyHeaderSize)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != keyHeaderVersion {
		return nil, fmt.Errorf("key header version %d; this server reads version %d", v, keyHeaderVersion)
	}
	var best *keyHeader
	for i := range 2 {
		s := b[16+i*keySlotSize : 16+(i+1)*keySlotSize]
		gen := binary.LittleEndian.Uint32(s)
		n := int(binary.LittleEndian.Uint16(s[4:]))
		if gen == 0 || n == 0 || n > MaxKeyBlob ||
			checksum.Mask(checksum.Value(s[:keySlotSize-4])) != binary.LittleEndian.Uint32(s[keySlotSize-4:]) {
			continue
		}
		if best == nil || gen > best.gen {
			best = &keyHeader{blob: bytes.Clone(s[keySlotFixed : keySlotFixed+n]), gen: gen, slot: i}
		}
	}
	if best == nil {
		return nil, errKeyHeader
	}
	return best, nil
}

// KeyHeaderGeneration returns the generation of the current slot of the
// key header at the start of b (a segment's first bytes), false when b
// does not begin with an intact key header. A new segment's header starts
// at generation 1 and each Rewrap of it raises it by one.
func KeyHeaderGeneration(b []byte) (uint32, bool) {
	if !isKeyHeader(b) {
		return 0, false
	}
	h, err := parseKeyHeader(b)
	if err != nil {
		return 0, false
	}
	return h.gen, true
}

// appendKeyHeader appends a whole key header holding blob in slot 0,
// generation 1 (slot 1 empty).
func appendKeyHeader(dst, blob []byte) []byte {
	h := make([]byte, KeyHeaderSize)
	copy(h, keyHeaderMagic)
	binary.LittleEndian.PutUint32(h[4:], keyHeaderMark)
	binary.LittleEndian.PutUint16(h[8:], keyHeaderVersion)
	putKeySlot(h[16:16+keySlotSize], blob, 1)
	return append(dst, h...)
}

// putKeySlot fills one slot.
func putKeySlot(s, blob []byte, gen uint32) {
	clear(s)
	binary.LittleEndian.PutUint32(s, gen)
	binary.LittleEndian.PutUint16(s[4:], uint16(len(blob)))
	copy(s[keySlotFixed:], blob)
	binary.LittleEndian.PutUint32(s[keySlotSize-4:], checksum.Mask(checksum.Value(s[:keySlotSize-4])))
}

// KeyBlob is the wrapped data key of the segment the view's frames come
// from (the current slot of its key header), nil for a segment without one.
// Frames with record.FlagEncrypted are sealed under it.
func (v *View) KeyBlob() []byte {
	if v.seg == nil {
		return nil
	}
	if h := v.seg.hdr.Load(); h != nil {
		return h.blob
	}
	return nil
}

// Rewrap offers the wrapped data key of every segment of the log to fn and
// stores what fn returns in its place when fn reports a change: the new
// blob goes into the key header's other slot with the next generation, and
// the file is fdatasynced, so a crash leaves the old or the new blob, both
// of which unwrap to the same data key. Record bytes are not touched. It
// returns the number of segments rewritten. It holds the log's write lock
// for each segment it rewrites.
func (l *Log) Rewrap(fn func(blob []byte) (newBlob []byte, changed bool, err error)) (int, error) {
	n := 0
	for _, s := range l.segments() {
		done, err := l.rewrapSegment(s, fn)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

func (l *Log) rewrapSegment(s *segment, fn func([]byte) ([]byte, bool, error)) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, ErrClosed
	}
	h := s.hdr.Load()
	if h == nil {
		return false, nil
	}
	nb, changed, err := fn(h.blob)
	if err != nil || !changed {
		return false, err
	}
	if len(nb) == 0 || len(nb) > MaxKeyBlob {
		return false, fmt.Errorf("segment: rewrap %s: a %d B wrapped key; a key header holds 1 to %d B", s.path, len(nb), MaxKeyBlob)
	}
	f, err := l.opts.FS.OpenFile(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed by retention meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("segment: rewrap %s: %w", s.path, err)
	}
	defer f.Close()
	next := &keyHeader{blob: bytes.Clone(nb), gen: h.gen + 1, slot: 1 - h.slot}
	slot := make([]byte, keySlotSize)
	putKeySlot(slot, next.blob, next.gen)
	if _, err := f.WriteAt(slot, int64(16+next.slot*keySlotSize)); err != nil {
		return false, fmt.Errorf("segment: rewrap %s: %w", s.path, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("segment: rewrap %s: %w", s.path, err)
	}
	s.hdr.Store(next)
	return true, nil
}

// NewestKeyBlob returns the wrapped data key of the newest segment in the
// shard directory dir, if that segment starts with a key header (nil if it
// holds no sealed frame, or dir holds no segment). Catalog recovery uses it
// to tell that a shard's latest records were sealed.
func NewestKeyBlob(fsys vfs.FS, dir string) ([]byte, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	newest, found := uint64(0), false
	for _, n := range names {
		if base, ok := parseSegName(n); ok && (!found || base > newest) {
			newest, found = base, true
		}
	}
	if !found {
		return nil, nil
	}
	f, err := fsys.OpenFile(filepath.Join(dir, segName(newest)), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, KeyHeaderSize)
	if n, err := f.ReadAt(b, 0); n < 8 || !isKeyHeader(b[:n]) {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, nil
	}
	h, err := parseKeyHeader(b)
	if err != nil {
		return nil, err
	}
	return h.blob, nil
}
