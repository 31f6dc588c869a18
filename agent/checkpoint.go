package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The checkpoint file's format (drawn in doc.go). These constants are part
// of the format and must not change.
const (
	ckptMagic      = "sluiceAC" // sluice agent checkpoints
	ckptVersion    = 1
	ckptHeaderLen  = len(ckptMagic) + 2 + 4 // magic, version, entry count
	ckptTrailerLen = 4                      // masked CRC-32C of everything before it
	// ckptEntryFixed is an entry without its three strings' bytes: three
	// string lengths, device, inode, offset, fingerprint length and sum,
	// flags.
	ckptEntryFixed = 2 + 2 + 2 + 8 + 8 + 8 + 2 + 4 + 1

	ckptMaxString  = 4096    // bytes: PATH_MAX
	ckptMaxEntries = 1 << 20 // far past any real number of tracked files
)

// Entry flags.
const (
	// ckptRotated: the file has left the path it was tailed at (renamed,
	// deleted, or a copy-truncate's copy) and is finished before the file
	// now at that path is read.
	ckptRotated = 1 << 0
	// ckptDone: the file was read to its end after it rotated; it stays
	// known only so that a glob that matches it does not read it again.
	ckptDone  = 1 << 1
	ckptFlags = ckptRotated | ckptDone
)

// checkpoint is what the checkpoint file holds for one file: the last
// offset whose lines the destination acknowledged.
type checkpoint struct {
	Flow   string // Flow.key() of the flow that tails it
	Chain  string // the path whose generations it belongs to
	Path   string // where it was last seen
	ID     identity
	Offset int64 // bytes: every line before it was acknowledged
	FP     fingerprint
	Flags  uint8
}

// identity is a file's device and inode numbers.
type identity struct{ dev, ino uint64 }

// fingerprint is the CRC-32C of a file's first N bytes (N up to
// fingerprintLen): it tells a reused inode or a truncated and rewritten file
// from the file a checkpoint was written for, and finds the copy a
// copy-truncate rotation left.
type fingerprint struct {
	N   uint16
	Sum uint32
}

// fingerprintLen is how many bytes of a file's start its fingerprint
// covers once the file is that long: 1 KiB, past the timestamps and host
// names that make log files' first lines differ.
const fingerprintLen = 1024

// encodeCheckpoints appends the file's bytes for entries to dst.
func encodeCheckpoints(dst []byte, entries []checkpoint) []byte {
	start := len(dst)
	dst = append(dst, ckptMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, ckptVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(entries)))
	for i := range entries {
		e := &entries[i]
		for _, s := range []string{e.Flow, e.Chain, e.Path} {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s)))
			dst = append(dst, s...)
		}
		dst = binary.LittleEndian.AppendUint64(dst, e.ID.dev)
		dst = binary.LittleEndian.AppendUint64(dst, e.ID.ino)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Offset))
		dst = binary.LittleEndian.AppendUint16(dst, e.FP.N)
		dst = binary.LittleEndian.AppendUint32(dst, e.FP.Sum)
		dst = append(dst, e.Flags)
	}
	return binary.LittleEndian.AppendUint32(dst, checksum.Mask(checksum.Value(dst[start:])))
}

// CheckpointError is a checkpoint file that does not decode, with the byte
// offset where decoding stopped.
type CheckpointError struct {
	Offset int
	Reason string
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", ErrCheckpointCorrupt, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCheckpointCorrupt) hold.
func (e *CheckpointError) Unwrap() error { return ErrCheckpointCorrupt }

// decodeCheckpoints decodes a checkpoint file. It checks the CRC before it
// reads any entry, and every length against the bytes that are there.
func decodeCheckpoints(b []byte) ([]checkpoint, error) {
	bad := func(off int, format string, args ...any) error {
		return &CheckpointError{Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < ckptHeaderLen+ckptTrailerLen {
		return nil, bad(0, "the file is %d bytes; the smallest checkpoint file is %d", len(b), ckptHeaderLen+ckptTrailerLen)
	}
	if string(b[:len(ckptMagic)]) != ckptMagic {
		return nil, bad(0, "it does not start with %q: not an agent checkpoint file", ckptMagic)
	}
	body := b[:len(b)-ckptTrailerLen]
	if got, want := checksum.Value(body), checksum.Unmask(binary.LittleEndian.Uint32(b[len(body):])); got != want {
		return nil, bad(len(body), "CRC mismatch (computed %08x, stored %08x): torn or damaged", got, want)
	}
	if v := binary.LittleEndian.Uint16(b[len(ckptMagic):]); v != ckptVersion {
		return nil, bad(len(ckptMagic), "format version %d; this agent reads version %d", v, ckptVersion)
	}
	n := binary.LittleEndian.Uint32(b[len(ckptMagic)+2:])
	if n > ckptMaxEntries || int(n) > (len(body)-ckptHeaderLen)/ckptEntryFixed {
		return nil, bad(len(ckptMagic)+2, "%d entries do not fit in %d bytes", n, len(body)-ckptHeaderLen)
	}
	entries := make([]checkpoint, n)
	off := ckptHeaderLen
	for i := range entries {
		e := &entries[i]
		for _, s := range []*string{&e.Flow, &e.Chain, &e.Path} {
			if len(body)-off < 2 {
				return nil, bad(off, "entry %d is cut short", i)
			}
			l := int(binary.LittleEndian.Uint16(body[off:]))
			off += 2
			if l > ckptMaxString || len(body)-off < l {
				return nil, bad(off-2, "entry %d: a string of %d bytes does not fit", i, l)
			}
			*s = string(body[off : off+l])
			off += l
		}
		if len(body)-off < ckptEntryFixed-6 {
			return nil, bad(off, "entry %d is cut short", i)
		}
		e.ID.dev = binary.LittleEndian.Uint64(body[off:])
		e.ID.ino = binary.LittleEndian.Uint64(body[off+8:])
		offset := binary.LittleEndian.Uint64(body[off+16:])
		e.FP.N = binary.LittleEndian.Uint16(body[off+24:])
		e.FP.Sum = binary.LittleEndian.Uint32(body[off+26:])
		e.Flags = body[off+30]
		switch {
		case offset > 1<<62:
			return nil, bad(off+16, "entry %d: offset %d is past any file", i, offset)
		case e.FP.N > fingerprintLen:
			return nil, bad(off+24, "entry %d: a fingerprint of %d bytes; the most is %d", i, e.FP.N, fingerprintLen)
		case e.Flags&^ckptFlags != 0:
			return nil, bad(off+30, "entry %d: unknown flags %#x", i, e.Flags)
		case e.Flow == "" || e.Path == "" || e.Chain == "":
			return nil, bad(off, "entry %d names no flow, chain or path", i)
		}
		e.Offset = int64(offset)
		off += ckptEntryFixed - 6
	}
	if off != len(body) {
		return nil, bad(off, "%d bytes follow the last entry", len(body)-off)
	}
	return entries, nil
}

// readCheckpoints reads the checkpoint file; a missing file is no
// checkpoints (a first start).
func readCheckpoints(path string) ([]checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	entries, err := decodeCheckpoints(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (it is written atomically, so this is damage from outside the agent; move it aside to start every file from its initialPosition, which re-sends or skips lines)", path, err)
	}
	return entries, nil
}

// writeCheckpointsSync replaces the checkpoint file with b crash-atomically:
// write a temporary file, fdatasync it, rename it over the old one and sync
// the directory. A failure leaves the old file whole; the next write starts
// over with a new temporary file.
func writeCheckpointsSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoints %s: %w", tmp, werr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write checkpoints: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write checkpoints: sync directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}
