package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
)

// The group log holds a stream's consumer groups: each group's settings,
// its checkpoints and its lease owners with their fencing epochs. It is a
// file of its own in the stream's directory, appended to and fdatasynced
// before a change is acknowledged, replayed at Open and rewritten whole
// (compacted) when it grows well past what it describes. Each record is
// self-contained, so a replica can apply the same records in the same order
// and reach the same state.
//
//	frame:   | crc u32 | len u32 | payload (len bytes) |
//	crc:     masked CRC-32C of the len field and the payload
//	payload: | type u8 | body |
//
//	groupRecGroup:      str group | u64 failover ms | u8 start | i64 created ns
//	groupRecDelete:     str group
//	groupRecCheckpoint: str group | u32 shard | u8 kind | u64 seq | u64 sub
//	groupRecLease:      str group | u32 shard | str owner | u64 epoch
//	groupRecMember:     str group | str member | i64 seen ns
//	groupRecMove:       str group | u32 shard | str to | i64 release-by ns
//	groupRecApplied:    str "" | u64 index
//
// str is a u16 length and the bytes; integers are little-endian. A lease
// record with an empty owner says the lease was released. A torn or damaged
// frame ends the log: nothing after it was acknowledged (every append is
// synced before the next one is made), and the file is cut there.
//
// The last three types are written only by a replica of a cluster, whose
// group state must come back after a restart exactly as every other node
// holds it (change_groups.go): a member record says when a member last
// called (seen 0: it is gone), a move record that a lease is being moved
// to another member by a deadline (both zero: no move), and an applied
// record the index of the catalog change the records before it came from.
// A single node writes none of them.

// These values are part of the format and must not change.
const (
	groupLogName     = "groups.log"
	groupFrameHeader = 4 + 4
	// groupMaxPayload bounds a record: 1 + 2 strs of at most 64 KiB and a
	// few integers; anything longer is damage.
	groupMaxPayload = 1 + 2*(2+0xFFFF) + 8*4

	groupRecGroup      = 1
	groupRecDelete     = 2
	groupRecCheckpoint = 3
	groupRecLease      = 4
	groupRecMember     = 5
	groupRecMove       = 6
	groupRecApplied    = 7
)

// compactMinBytes is the size below which the group log is never
// compacted: 256 KiB, a few thousand checkpoints.
const compactMinBytes = 256 << 10

// errGroupRecord is a payload that does not decode.
var errGroupRecord = errors.New("engine: bad group log record")

// groupRecord is one decoded record of the group log.
type groupRecord struct {
	Type     uint8
	Group    string
	Failover uint64 // ms, groupRecGroup
	Start    uint8  // groupRecGroup: 0 trim horizon, 1 latest
	Created  int64  // groupRecGroup, Unix ns
	Shard    uint32 // checkpoint, lease
	Kind     uint8  // checkpoint: a cpKind
	Seq, Sub uint64 // checkpoint
	Owner    string // lease; "" released
	Epoch    uint64 // lease
	Member   string // member: its name; move: the member it goes to
	At       int64  // member: last call, move: deadline; Unix ns, 0 none
	Index    uint64 // applied
}

func appendGroupStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendGroupRecord appends r's payload to b.
func appendGroupRecord(b []byte, r *groupRecord) []byte {
	b = append(b, r.Type)
	b = appendGroupStr(b, r.Group)
	switch r.Type {
	case groupRecGroup:
		b = binary.LittleEndian.AppendUint64(b, r.Failover)
		b = append(b, r.Start)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.Created))
	case groupRecCheckpoint:
		b = binary.LittleEndian.AppendUint32(b, r.Shard)
		b = append(b, r.Kind)
		b = binary.LittleEndian.AppendUint64(b, r.Seq)
		b = binary.LittleEndian.AppendUint64(b, r.Sub)
	case groupRecLease:
		b = binary.LittleEndian.AppendUint32(b, r.Shard)
		b = appendGroupStr(b, r.Owner)
		b = binary.LittleEndian.AppendUint64(b, r.Epoch)
	case groupRecMember:
		b = appendGroupStr(b, r.Member)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.At))
	case groupRecMove:
		b = binary.LittleEndian.AppendUint32(b, r.Shard)
		b = appendGroupStr(b, r.Member)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.At))
	case groupRecApplied:
		b = binary.LittleEndian.AppendUint64(b, r.Index)
	}
	return b
}

// groupDecoder reads a payload; the first short read sets bad.
type groupDecoder struct {
	b   []byte
	bad bool
}

func (d *groupDecoder) take(n int) []byte {
	if d.bad || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *groupDecoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *groupDecoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *groupDecoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *groupDecoder) str() string {
	n := d.take(2)
	if n == nil {
		return ""
	}
	return string(d.take(int(binary.LittleEndian.Uint16(n))))
}

// decodeGroupRecord decodes one payload. It fails on an unknown type, a
// short payload, trailing bytes, a missing group name (or one in an applied
// record, which has none), a missing member name or an unknown checkpoint
// kind.
func decodeGroupRecord(p []byte) (groupRecord, error) {
	d := groupDecoder{b: p}
	var r groupRecord
	r.Type = d.u8()
	r.Group = d.str()
	switch r.Type {
	case groupRecGroup:
		r.Failover = d.u64()
		r.Start = d.u8()
		r.Created = int64(d.u64())
	case groupRecDelete:
	case groupRecCheckpoint:
		r.Shard = d.u32()
		r.Kind = d.u8()
		r.Seq = d.u64()
		r.Sub = d.u64()
		if r.Kind > uint8(cpEnd) {
			return groupRecord{}, fmt.Errorf("%w: checkpoint kind %d", errGroupRecord, r.Kind)
		}
	case groupRecLease:
		r.Shard = d.u32()
		r.Owner = d.str()
		r.Epoch = d.u64()
	case groupRecMember:
		r.Member = d.str()
		r.At = int64(d.u64())
	case groupRecMove:
		r.Shard = d.u32()
		r.Member = d.str()
		r.At = int64(d.u64())
	case groupRecApplied:
		r.Index = d.u64()
	default:
		return groupRecord{}, fmt.Errorf("%w: type %d", errGroupRecord, r.Type)
	}
	switch {
	case d.bad:
		return groupRecord{}, fmt.Errorf("%w: short payload of type %d", errGroupRecord, r.Type)
	case len(d.b) != 0:
		return groupRecord{}, fmt.Errorf("%w: %d bytes after a record of type %d", errGroupRecord, len(d.b), r.Type)
	case r.Group == "" && r.Type != groupRecApplied:
		return groupRecord{}, fmt.Errorf("%w: no group name", errGroupRecord)
	case r.Group != "" && r.Type == groupRecApplied:
		return groupRecord{}, fmt.Errorf("%w: a group name in an applied record", errGroupRecord)
	case r.Type == groupRecMember && r.Member == "":
		return groupRecord{}, fmt.Errorf("%w: no member name", errGroupRecord)
	}
	return r, nil
}

// appendGroupFrame appends r framed: crc, length, payload.
func appendGroupFrame(b []byte, r *groupRecord) []byte {
	at := len(b)
	b = append(b, make([]byte, groupFrameHeader)...)
	b = appendGroupRecord(b, r)
	binary.LittleEndian.PutUint32(b[at+4:], uint32(len(b)-at-groupFrameHeader))
	binary.LittleEndian.PutUint32(b[at:], checksum.Mask(checksum.Value(b[at+4:])))
	return b
}

// scanGroupFrames calls fn with every record of b up to the first torn or
// damaged frame and returns the length of that valid prefix.
func scanGroupFrames(b []byte, fn func(groupRecord)) int {
	off := 0
	for len(b)-off >= groupFrameHeader {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		if n == 0 || n > groupMaxPayload || len(b)-off-groupFrameHeader < n {
			break
		}
		end := off + groupFrameHeader + n
		if checksum.Unmask(binary.LittleEndian.Uint32(b[off:])) != checksum.Value(b[off+4:end]) {
			break
		}
		r, err := decodeGroupRecord(b[off+groupFrameHeader : end])
		if err != nil {
			break
		}
		fn(r)
		off = end
	}
	return off
}

// groupLog is the open group log of one stream. It is guarded by its
// groupSet's mutex.
type groupLog struct {
	fs   vfs.FS
	dir  string
	f    vfs.File
	size int64
	err  error // the first write or sync error: sticky, never retried
	buf  []byte
}

// openGroupLog opens (creating) the group log in dir and replays it into
// fn. A torn tail is cut off.
func openGroupLog(fsys vfs.FS, dir string, fn func(groupRecord)) (*groupLog, error) {
	path := filepath.Join(dir, groupLogName)
	b, err := vfs.ReadFile(fsys, path, 1<<30)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read group log %s: %w", path, err)
	}
	valid := scanGroupFrames(b, fn)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open group log %s: %w", path, err)
	}
	if b == nil {
		// A new file: its name must be durable before anything in it is.
		if err := fsys.SyncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	if valid < len(b) {
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut the torn tail of group log %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync group log %s: %w", path, err)
		}
	}
	return &groupLog{fs: fsys, dir: dir, f: f, size: int64(valid)}, nil
}

// appendSync appends records and fdatasyncs them: when it returns nil they
// survive a crash.
func (l *groupLog) appendSync(recs ...groupRecord) error {
	if l.err != nil {
		return l.err
	}
	l.buf = l.buf[:0]
	for i := range recs {
		l.buf = appendGroupFrame(l.buf, &recs[i])
	}
	if _, err := l.f.WriteAt(l.buf, l.size); err != nil {
		l.err = fmt.Errorf("append to group log in %s: %w", l.dir, err)
		return l.err
	}
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("sync group log in %s: %w", l.dir, err)
		return l.err
	}
	l.size += int64(len(l.buf))
	return nil
}

// rewrite replaces the log with recs, crash-atomically: a new file is
// written and synced, renamed over the log, and the directory synced.
func (l *groupLog) rewrite(recs []groupRecord) error {
	if l.err != nil {
		return l.err
	}
	var b []byte
	for i := range recs {
		b = appendGroupFrame(b, &recs[i])
	}
	path := filepath.Join(l.dir, groupLogName)
	tmp := path + ".tmp"
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("compact group log: %w", err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("compact group log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("compact group log: %w", err)
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		f.Close()
		return fmt.Errorf("compact group log: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// The rename may or may not be durable; either file holds the
		// whole state, but appends must go to the one that stays.
		f.Close()
		l.err = fmt.Errorf("compact group log: sync %s: %w", l.dir, err)
		return l.err
	}
	l.f.Close()
	l.f, l.size = f, int64(len(b))
	return nil
}

func (l *groupLog) close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
