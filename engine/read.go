package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/segment"
)

// shardAt resolves a position to its stream and shard.
func (e *Engine) shardAt(pos api.Position) (*stream, *shard, error) {
	st, err := e.lookup(pos.Stream)
	if err != nil {
		return nil, nil, err
	}
	if st.inc != pos.Incarnation {
		return nil, nil, errorf(api.CodeResourceNotFound,
			"the position is for an earlier stream named %s, which was deleted", pos.Stream)
	}
	sh := st.shard(pos.Shard)
	if sh == nil {
		return nil, nil, api.ShardNotFound(pos.Stream, api.ShardID(pos.Shard))
	}
	return st, sh, nil
}

// GetIterator returns the position where reading shardID of a stream starts
// according to spec.
func (e *Engine) GetIterator(name, shardID string, spec api.IteratorSpec) (api.Position, error) {
	st, err := e.lookup(name)
	if err != nil {
		return api.Position{}, err
	}
	idx, err := api.ParseShardID(shardID)
	if err != nil {
		return api.Position{}, err
	}
	sh := st.shard(idx)
	if sh == nil {
		return api.Position{}, api.ShardNotFound(name, clip(shardID))
	}
	pos := api.Position{Stream: name, Incarnation: st.inc, Shard: idx}
	log, err := sh.acquire()
	if err != nil {
		return api.Position{}, err
	}
	defer sh.release()
	first, next := log.Bounds()
	switch spec.Type {
	case api.TrimHorizon:
		pos.Seq = first
	case api.Latest:
		pos.Seq = next
	case api.AtSequenceNumber, api.AfterSequenceNumber:
		if spec.Seq == "" {
			return api.Position{}, errorf(api.CodeInvalidArgument, "StartingSequenceNumber is required for %s", spec.Type)
		}
		sn, err := api.ParseSeqNum(spec.Seq)
		if err != nil {
			return api.Position{}, err
		}
		if sn.Incarnation != st.inc {
			return api.Position{}, &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonSeqOtherStream,
				Stream: name, Shard: sh.id, Arg: clip(spec.Seq)}
		}
		if int(sn.Shard) != idx {
			return api.Position{}, &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonSeqOtherShard,
				Stream: name, Shard: sh.id, Arg: clip(spec.Seq)}
		}
		switch {
		case sn.IsStart():
			// The shard's starting number sorts before its first record:
			// at it and after it both start there.
			pos.Seq = 0
		case spec.Type == api.AfterSequenceNumber:
			pos.Seq = sn.Seq + 1
		default:
			pos.Seq = sn.Seq
		}
		if limit := sh.limitSeq(next); pos.Seq > limit || (spec.Type == api.AtSequenceNumber && !sn.IsStart() && pos.Seq == limit && sh.isClosed()) {
			return api.Position{}, &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonSeqBeyondEnd,
				Stream: name, Shard: sh.id, Arg: clip(spec.Seq)}
		}
	case api.AtTimestamp:
		if spec.Timestamp.IsZero() {
			return api.Position{}, errorf(api.CodeInvalidArgument, "Timestamp is required for AT_TIMESTAMP")
		}
		pos.Seq = log.SeekTime(spec.Timestamp.UnixNano())
	default:
		return api.Position{}, errorf(api.CodeInvalidArgument,
			"shard iterator type %q is not one of AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP", clip(string(spec.Type)))
	}
	return pos, nil
}

// limitSeq is the highest position a reader may stand at: one past the last
// record (the end of a closed shard, or the published tip).
func (sh *shard) limitSeq(next uint64) uint64 {
	if sh.isClosed() {
		if end := sh.endSeq.Load(); end > next {
			return end
		}
	}
	return next
}

// ReadResult is the outcome of a Read. Its records are views into the
// shard's mapped segment: they stay valid until Release.
type ReadResult struct {
	view  segment.View
	inc   uint32
	shard uint32
	// frames are the records handed out: the view's frames as stored, or
	// for a view with sealed frames, buf with them opened.
	frames []byte
	buf    []byte             // reused from read to read by a pooled ReadResult
	fc     record.FrameCipher // opens the view's sealed frames

	// Records and Bytes count what the read returned (Bytes: keys + data).
	Records int
	Bytes   int
	// Next is where the following read starts; meaningless when ShardEnd.
	Next api.Position
	// ShardEnd is set when the shard is closed and this read reached its
	// end: there is nothing more to read here; continue with ChildShards.
	ShardEnd    bool
	ChildShards []api.ShardInfo
	// MillisBehind is how far the end of this read is behind the shard's
	// newest record, in milliseconds (0 when caught up).
	MillisBehind int64
}

// Release drops the read's hold on the segment. The records must not be used
// afterwards. It is safe to call more than once.
func (r *ReadResult) Release() {
	r.view.Release()
	r.view = segment.View{}
	r.frames = nil
}

// Frames returns the records as frames (record format) for front doors that
// send them on unchanged, each with a CRC the receiver checks: for records
// stored in the clear, the stored frames themselves (zero-copy from the
// segment); for records stored encrypted, frames decrypted into a buffer of
// the ReadResult with fresh CRCs and FlagEncrypted still set, telling the
// reader how the record is stored. Valid until Release.
func (r *ReadResult) Frames() []byte { return r.frames }

// Guard runs fn, which reads the result's records or frames, turning a
// fault on their mapped bytes (a segment file truncated or damaged outside
// the server) into an error for this read instead of a crash; the shard's
// log is fenced and reported in Faults. Wrap the whole encoding of a
// response in one Guard; handing the frames to the kernel (writev) needs
// none.
func (r *ReadResult) Guard(fn func()) error { return r.view.Guard(fn) }

// Record is one record of a read. Key and Data alias the mapped segment (or
// the result's buffer of decrypted records) and are always in the clear.
type Record struct {
	Seq     api.SeqNum
	Arrival int64 // Unix nanoseconds
	Flags   uint16
	Key     []byte
	Data    []byte
}

// Encrypted reports whether the record is stored encrypted at rest
// (Kinesis' EncryptionType KMS rather than NONE).
func (r *Record) Encrypted() bool { return r.Flags&record.FlagEncrypted != 0 }

// EncryptionType is Kinesis' word for how the record is stored: "KMS" or
// "NONE".
func (r *Record) EncryptionType() string {
	if r.Encrypted() {
		return "KMS"
	}
	return "NONE"
}

// RecordIter walks the records of a ReadResult without allocating.
type RecordIter struct {
	it         record.FrameIter
	inc, shard uint32
}

// Iter returns an iterator over the read's records.
func (r *ReadResult) Iter() RecordIter {
	return RecordIter{it: record.NewFrameIter(r.frames), inc: r.inc, shard: r.shard}
}

// Next returns the next record, or false at the end.
func (it *RecordIter) Next() (Record, bool) {
	f, ok := it.it.Next()
	if !ok {
		return Record{}, false
	}
	return Record{
		Seq:     api.SeqNum{Incarnation: it.inc, Shard: it.shard, Seq: f.Seq},
		Arrival: f.Time, Flags: f.Flags, Key: f.Key, Data: f.Data,
	}, true
}

// Read reads up to maxRecords records (at most MaxReadRecords) and about
// maxBytes bytes (at least one record if any is available) from pos. res is
// reset first; call res.Release when done with the records. A position older
// than the shard's retained records starts at the oldest one. A ReadPolling
// read counts against the shard's read quota and fails as a whole, returning
// nothing, with CodeThroughputExceeded when over it.
func (e *Engine) Read(pos api.Position, maxRecords, maxBytes int, kind ReadKind, res *ReadResult) error {
	res.Release()
	*res = ReadResult{buf: res.buf[:0]}
	st, sh, err := e.shardAt(pos)
	if err != nil {
		return err
	}
	if maxRecords <= 0 || maxRecords > api.MaxReadRecords {
		maxRecords = api.MaxReadRecords
	}
	if maxBytes <= 0 || maxBytes > api.MaxReadBytes {
		maxBytes = api.MaxReadBytes
	}
	if kind == ReadPolling && !sh.quota.BeginRead() {
		sh.m.readThrottled.Add(1)
		return &api.Error{Code: api.CodeThroughputExceeded, Reason: api.ReasonShardThrottled, Stream: st.name, Shard: sh.id}
	}
	log, err := sh.acquire()
	if err != nil {
		if kind == ReadPolling {
			sh.quota.EndRead(0)
		}
		return err
	}
	defer sh.release()
	// Read the closed flag before the bounds: a shard that is closed has
	// published everything it ever will.
	closed := sh.isClosed()
	if err := log.Read(pos.Seq, maxRecords, maxBytes, &res.view); err != nil {
		if kind == ReadPolling {
			sh.quota.EndRead(0)
		}
		return &api.Error{Code: api.CodeInternal, Detail: "read shard " + sh.id, Err: err}
	}
	res.inc, res.shard = st.inc, uint32(sh.index)
	res.Records = res.view.Count
	next := pos.Seq
	if res.view.Count > 0 || res.view.Next > next {
		next = res.view.Next
	}
	sum, err := res.view.Summary()
	if err != nil {
		if kind == ReadPolling {
			sh.quota.EndRead(0)
		}
		res.Release() // the view fenced the log: Faults reports the shard
		return &api.Error{Code: api.CodeInternal, Detail: "read shard " + sh.id, Err: err}
	}
	res.Bytes, res.frames = sum.Bytes, res.view.Frames
	lastTime := sum.LastTime
	if sum.Sealed > 0 {
		if err := e.openSealed(st, sh, res, &lastTime); err != nil {
			if kind == ReadPolling {
				sh.quota.EndRead(0)
			}
			res.Release()
			return err
		}
		res.Records = res.view.Count
		if res.view.Count > 0 {
			next = res.view.Next
		}
		res.view.Release()
		res.view = segment.View{}
	}
	if kind == ReadPolling {
		sh.quota.EndRead(res.Bytes)
	}
	res.Next = api.Position{Stream: pos.Stream, Incarnation: st.inc, Shard: sh.index, Seq: next}
	_, tip := log.Bounds()
	if next < tip {
		behind := (log.LastTime() - lastTime) / 1e6
		if res.Records == 0 || behind < 0 {
			behind = 0
		}
		res.MillisBehind = behind
	}
	if closed && next >= sh.endSeq.Load() {
		res.ShardEnd = true
		res.ChildShards = e.children(st, sh.index)
	}
	sh.m.outRecords.Add(uint64(res.Records))
	sh.m.outBytes.Add(uint64(res.Bytes))
	sh.m.iteratorAge.Store(res.MillisBehind)
	return nil
}

// openSealed decrypts the frames of res.view into res.buf, copying the
// frames stored in the clear, and points res.frames at them. A sealed frame
// that fails to open (altered, or moved from another place) ends the result
// before it; if it is the first, the read fails with a corruption error for
// that record, and a read from the next record goes on. The view's Count,
// Next and res.Bytes are set to what was opened; lastTime to the arrival
// time of the last record kept.
func (e *Engine) openSealed(st *stream, sh *shard, res *ReadResult, lastTime *int64) error {
	blob := res.view.KeyBlob()
	if blob == nil {
		return &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("read shard %s of stream %s: encrypted records in a segment without a key header", sh.id, st.name)}
	}
	k, err := e.dataKeys.get(e, blob)
	if err != nil {
		return readKeyError(err, st, sh)
	}
	// Every read asks whether the master key may still be used.
	if _, err := e.usableKey(k.arn); err != nil {
		return err
	}
	res.fc = record.FrameCipher{AEAD: k.aead, Incarnation: st.inc, Shard: uint32(sh.index)}
	src := res.view.Frames
	res.buf = slices.Grow(res.buf[:0], len(src))[:len(src)]
	var openErr error
	w, n, bytes := 0, 0, 0
	gerr := res.view.Guard(func() {
		for off := 0; off < len(src); {
			size := record.FrameLen(src[off:])
			if size == 0 || off+size > len(src) {
				openErr = &record.CorruptionError{Offset: int64(off), Err: errors.New("length field out of bounds")}
				return
			}
			f := src[off : off+size]
			wn := size
			if record.FrameFlags(f)&record.FlagEncrypted != 0 {
				if wn, _, err = res.fc.Open(res.buf[w:], f); err != nil {
					openErr = err
					return
				}
			} else {
				copy(res.buf[w:], f)
			}
			bytes += int(binary.LittleEndian.Uint32(res.buf[w+record.LengthOffset:])) - record.MinLength
			*lastTime = record.FrameTime(f)
			w += wn
			n++
			off += size
		}
	})
	if gerr != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "read shard " + sh.id, Err: gerr}
	}
	if openErr != nil && n == 0 {
		return &api.Error{Code: api.CodeInternal, Err: openErr,
			Detail: fmt.Sprintf("record %d of shard %s of stream %s is corrupt: its stored bytes fail authentication (altered, or copied from elsewhere); read on from the next record",
				res.view.First, sh.id, st.name)}
	}
	res.frames = res.buf[:w]
	res.Bytes = bytes
	res.view.Count = n
	res.view.Next = res.view.First + uint64(n)
	return nil
}

// readKeyError is the error of a read whose data key the key service would
// not unwrap: its own (KMS codes) as it is, anything else internal.
func readKeyError(err error, st *stream, sh *shard) error {
	if _, ok := isKeyError(err); ok || errors.Is(err, errNoKeyService) {
		return err
	}
	return &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("unwrap the data key of shard %s of stream %s", sh.id, st.name), Err: err}
}

// children lists the shards created from shard index by a split or merge.
func (e *Engine) children(st *stream, index int) []api.ShardInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []api.ShardInfo
	for _, sm := range st.meta.Shards {
		if sm.Parent == index || sm.AdjacentParent == index {
			out = append(out, st.shardInfo(sm))
		}
	}
	return out
}

// ShardEnd reports whether pos is at the end of a closed shard, and if so the
// shard's children.
func (e *Engine) ShardEnd(pos api.Position) (bool, []api.ShardInfo, error) {
	st, sh, err := e.shardAt(pos)
	if err != nil {
		return false, nil, err
	}
	if sh.isClosed() && pos.Seq >= sh.endSeq.Load() {
		return true, e.children(st, sh.index), nil
	}
	return false, nil, nil
}
