package engine

import (
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
}

// Frames returns the records as the stored frames themselves (segment
// format), for front doors that send them on unchanged. Valid until Release.
func (r *ReadResult) Frames() []byte { return r.view.Frames }

// Guard runs fn, which reads the result's records or frames, turning a
// fault on their mapped bytes (a segment file truncated or damaged outside
// the server) into an error for this read instead of a crash; the shard's
// log is fenced and reported in Faults. Wrap the whole encoding of a
// response in one Guard; handing the frames to the kernel (writev) needs
// none.
func (r *ReadResult) Guard(fn func()) error { return r.view.Guard(fn) }

// Record is one record of a read. Key and Data alias the mapped segment.
type Record struct {
	Seq     api.SeqNum
	Arrival int64 // Unix nanoseconds
	Flags   uint16
	Key     []byte
	Data    []byte
}

// RecordIter walks the records of a ReadResult without allocating.
type RecordIter struct {
	it         record.FrameIter
	inc, shard uint32
}

// Iter returns an iterator over the read's records.
func (r *ReadResult) Iter() RecordIter {
	return RecordIter{it: r.view.Iter(), inc: r.inc, shard: r.shard}
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
	*res = ReadResult{}
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
	var lastTime int64
	res.Bytes, lastTime, err = res.view.Payload()
	if err != nil {
		if kind == ReadPolling {
			sh.quota.EndRead(0)
		}
		res.Release() // the view fenced the log: Faults reports the shard
		return &api.Error{Code: api.CodeInternal, Detail: "read shard " + sh.id, Err: err}
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
