package wireserver

import (
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// dispatch serves one request whose body has been read into bb (which it
// owns from here). Cheap operations that never block for long run inline on
// the reader; the rest run on their own goroutine so that the reader keeps
// reading (pipelining) and responses go out in completion order.
func (c *conn) dispatch(h wire.Header, bb *bytebufferpool.ByteBuffer) {
	resource, ok := c.admit(h, bb.B)
	if !ok {
		wire.PutBuf(bb)
		return
	}
	switch h.Op {
	case wire.OpPing:
		c.handlePing(h, bb)
	case wire.OpRead:
		c.handleRead(h, bb.B)
		wire.PutBuf(bb)
	case wire.OpSubscribe:
		c.startSubscription(h, bb.B)
		wire.PutBuf(bb)
	case wire.OpPutRecords:
		c.startPutRecords(h, bb, resource)
	case wire.OpPutShard:
		c.startPutShard(h, bb, resource)
	case wire.OpGetIterator, wire.OpDescribeStream, wire.OpListStreams, wire.OpListShards, wire.OpListTags, wire.OpHotKeys,
		wire.OpShardMap:
		c.handleControl(h, bb)
	case wire.OpCreateStream, wire.OpDeleteStream, wire.OpSplitShard, wire.OpMergeShards, wire.OpUpdateShardCount,
		wire.OpIncreaseRetention, wire.OpDecreaseRetention, wire.OpAddTags, wire.OpRemoveTags, wire.OpSetQuotas,
		wire.OpSetDurability, wire.OpSetMaxRecordSize, wire.OpSetStreamMode,
		wire.OpStartStreamEncryption, wire.OpStopStreamEncryption, wire.OpCreateKey, wire.OpListKeys,
		wire.OpDescribeKey, wire.OpCreateAlias, wire.OpListAliases, wire.OpRotateKey, wire.OpDisableKey,
		wire.OpEnableKey, wire.OpRewrap, wire.OpJoinGroup, wire.OpGroupHeartbeat, wire.OpCheckpointGroup,
		wire.OpLeaveGroup, wire.OpListGroups, wire.OpDescribeGroup, wire.OpResetGroup, wire.OpDeleteGroup:
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			c.auditResult(h.Op, resource, c.handleControl(h, bb))
		}()
	default:
		wire.PutBuf(bb)
		msg := fmt.Sprintf("opcode %#02x is not an operation of protocol version %d", uint8(h.Op), wire.Version)
		switch {
		case h.Op == wire.OpEvent || h.Op == wire.OpGoAway || h.Op == wire.OpChallenge:
			msg = fmt.Sprintf("opcode %v is sent by servers only", h.Op)
		case h.Op == wire.OpAuthenticate && c.user != nil:
			msg = "the connection has authenticated already; it runs as " + c.user.ARN
		case h.Op == wire.OpAuthenticate:
			msg = "this server does not require authentication (its hello does not set feature bit 0x1); the connection runs as anonymous"
		}
		c.violation("unknown operation", "op", h.Op, "id", h.ID)
		c.respondError(h.Op, h.ID, &wire.Error{Name: "InvalidArgumentException", Message: msg}, h.Size, 1)
	}
}

// malformed answers a request whose body failed to decode, and returns the
// error it answered with.
func (c *conn) malformed(h wire.Header, err error) *wire.Error {
	c.violation("malformed request", "op", h.Op, "id", h.ID, "err", err)
	e := &wire.Error{Name: "InvalidArgumentException", Message: fmt.Sprintf("malformed %v request: %v", h.Op, err)}
	c.respondError(h.Op, h.ID, e, h.Size, 1)
	return e
}

func errTooLargeForClient(size, limit int) string {
	return fmt.Sprintf("the response is %d bytes, more than the %d byte maximum frame size the client announced; ask for less", size, limit)
}

// handlePing echoes the body.
func (c *conn) handlePing(h wire.Header, bb *bytebufferpool.ByteBuffer) {
	if h.Size > c.clientMax {
		wire.PutBuf(bb)
		c.respondError(h.Op, h.ID, &wire.Error{Name: "LimitExceededException", Message: errTooLargeForClient(h.Size, c.clientMax)}, h.Size, 1)
		return
	}
	out := wire.GetBuf(h.Size)
	b, start := wire.BeginFrame(out.B[:0])
	b = append(b, bb.B...)
	wire.EndFrame(b, start, wire.OpPing, 0, h.ID, 0)
	out.B = b
	wire.PutBuf(bb)
	c.charge(len(b), 0)
	c.enqueue(outFrame{buf: out, cost: h.Size + len(b), reqs: 1})
}

// handleControl decodes and runs a control operation and queues its
// response. It owns bb. It returns the error it answered with, or nil.
func (c *conn) handleControl(h wire.Header, bb *bytebufferpool.ByteBuffer) *wire.Error {
	defer wire.PutBuf(bb)
	if hook := c.srv.testHookControl; hook != nil {
		hook(h.Op)
	}
	if veto := c.srv.testHookControlVeto; veto != nil && veto(h.Op) {
		e := &wire.Error{Name: "LimitExceededException", Message: "disabled by a test hook"}
		c.respondError(h.Op, h.ID, e, h.Size, 1)
		return e
	}
	resp, err := c.control(h.Op, bb.B)
	if err != nil {
		if _, ok := err.(*wire.DecodeError); ok {
			return c.malformed(h, err)
		}
		e := c.engineError(err)
		c.respondError(h.Op, h.ID, e, h.Size, 1)
		return e
	}
	c.respond(h.Op, h.ID, resp, h.Size)
	return nil
}

// control runs one control operation.
func (c *conn) control(op wire.Op, body []byte) (wire.Message, error) {
	eng := c.srv.eng
	switch op {
	case wire.OpCreateStream:
		return decodeAnd(body, func(m *wire.ReqCreateStream) (wire.Message, error) {
			info, err := eng.CreateStream(m.In)
			return &wire.RespStreamInfo{Info: info}, err
		})
	case wire.OpDeleteStream:
		return applyStreamValue(body, eng.DeleteStream)
	case wire.OpHotKeys:
		return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
			if _, err := eng.DescribeStream(m.Stream); err != nil {
				return nil, err
			}
			return &wire.RespHotKeys{Keys: eng.HotKeys(m.Stream)}, nil
		})
	case wire.OpDescribeStream, wire.OpListShards, wire.OpListTags:
		return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
			info, err := eng.DescribeStream(m.Stream)
			if err != nil {
				return nil, err
			}
			switch op {
			case wire.OpListShards:
				return &wire.RespShards{Shards: info.Shards}, nil
			case wire.OpListTags:
				return &wire.RespTags{Tags: info.Tags}, nil
			}
			return &wire.RespStreamInfo{Info: info}, nil
		})
	case wire.OpShardMap:
		return c.shardMap(body)
	case wire.OpListStreams:
		return decodeAnd(body, func(*wire.ReqEmpty) (wire.Message, error) {
			return &wire.RespNames{Names: eng.ListStreams()}, nil
		})
	case wire.OpGetIterator:
		return decodeAnd(body, func(m *wire.ReqGetIterator) (wire.Message, error) {
			spec := api.IteratorSpec{Type: m.Type, Timestamp: m.Timestamp}
			if m.Type == api.AtSequenceNumber || m.Type == api.AfterSequenceNumber {
				spec.Seq = m.Seq.String()
			}
			pos, err := eng.GetIterator(m.Stream, api.ShardID(int(m.Shard)), spec)
			return &wire.RespPosition{Pos: pos}, err
		})
	case wire.OpSplitShard:
		return decodeAnd(body, func(m *wire.ReqSplitShard) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.SplitShard(m.Stream, api.ShardID(int(m.Shard)), m.NewStart)
		})
	case wire.OpMergeShards:
		return decodeAnd(body, func(m *wire.ReqMergeShards) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.MergeShards(m.Stream, api.ShardID(int(m.Shard)), api.ShardID(int(m.Adjacent)))
		})
	case wire.OpUpdateShardCount:
		return applyStreamValue(body, intValue(eng.UpdateShardCount))
	case wire.OpIncreaseRetention:
		return applyStreamValue(body, intValue(eng.IncreaseRetention))
	case wire.OpDecreaseRetention:
		return applyStreamValue(body, intValue(eng.DecreaseRetention))
	case wire.OpSetMaxRecordSize:
		return applyStreamValue(body, intValue(eng.SetMaxRecordSize))
	case wire.OpAddTags:
		return applyStreamValue(body, eng.AddTags)
	case wire.OpRemoveTags:
		return applyStreamValue(body, eng.RemoveTags)
	case wire.OpSetQuotas:
		return applyStreamValue(body, eng.SetQuotas)
	case wire.OpSetDurability:
		return applyStreamValue(body, eng.SetDurability)
	case wire.OpSetStreamMode:
		return applyStreamValue(body, func(stream string, mode api.StreamMode) error {
			if mode == "" {
				return &wire.Error{Name: api.CodeInvalidArgument.String(), Message: "stream mode 0 (default) is not a mode; send 1 (PROVISIONED) or 2 (ON_DEMAND)"}
			}
			return eng.SetStreamMode(stream, mode)
		})
	case wire.OpStartStreamEncryption, wire.OpStopStreamEncryption, wire.OpCreateKey, wire.OpListKeys,
		wire.OpDescribeKey, wire.OpCreateAlias, wire.OpListAliases, wire.OpRotateKey, wire.OpDisableKey,
		wire.OpEnableKey, wire.OpRewrap:
		return c.keyControl(op, body)
	case wire.OpJoinGroup, wire.OpGroupHeartbeat, wire.OpCheckpointGroup, wire.OpLeaveGroup, wire.OpListGroups,
		wire.OpDescribeGroup, wire.OpResetGroup, wire.OpDeleteGroup:
		return c.groupControl(op, body)
	}
	return nil, fmt.Errorf("wire: no control handler for %v", op)
}

// decodeAnd decodes body as a request of type M and runs the operation on
// it. When the operation fails, its error is answered and its message
// ignored.
func decodeAnd[M any, P interface {
	*M
	wire.Message
}](body []byte, run func(P) (wire.Message, error)) (wire.Message, error) {
	var m M
	if err := wire.DecodeMessage(body, P(&m)); err != nil {
		return nil, err
	}
	return run(&m)
}

// applyStreamValue decodes a StreamValue request and applies it with
// apply; the operation's response is empty.
func applyStreamValue[V wire.StreamValueType](body []byte, apply func(stream string, v V) error) (wire.Message, error) {
	return decodeAnd(body, func(m *wire.StreamValue[V]) (wire.Message, error) {
		return &wire.ReqEmpty{}, apply(m.Stream, m.Value)
	})
}

// intValue adapts an engine operation taking an int to a u32 request value.
func intValue(apply func(stream string, n int) error) func(string, uint32) error {
	return func(stream string, n uint32) error { return apply(stream, int(n)) }
}

// resultHeadReserve is room kept in a response for the result head (next
// position, children) when sizing a read to the client's frame limit.
const resultHeadReserve = 4 << 10

// perRecordOverhead is the most a record's frame adds to its key and data:
// the frame header and the padding.
const perRecordOverhead = record.HeaderSize + record.Alignment - 1

// readLimits caps a read so that its response fits in the client's maximum
// frame size (and within limit bytes of frames, if limit > 0).
func (c *conn) readLimits(maxRecords, maxBytes, limit int) (int, int) {
	if maxRecords <= 0 || maxRecords > api.MaxReadRecords {
		maxRecords = api.MaxReadRecords
	}
	if maxBytes <= 0 || maxBytes > api.MaxReadBytes {
		maxBytes = api.MaxReadBytes
	}
	room := c.clientMax - wire.HeaderSize - resultHeadReserve
	if limit > 0 && limit < room {
		room = limit
	}
	maxRecords = max(1, min(maxRecords, room/2/perRecordOverhead))
	maxBytes = max(1, min(maxBytes, room-maxRecords*perRecordOverhead))
	return maxRecords, maxBytes
}

// position decodes the position of a Read or Subscribe request, with the
// stream name interned so that decoding allocates nothing.
func (c *conn) position(d *wire.Decoder) api.Position {
	return api.Position{
		Stream:      c.intern.get(d.StrBytes("stream name")),
		Incarnation: d.U32("incarnation"),
		Shard:       int(d.U32("shard")),
		Seq:         d.U64("sequence"),
	}
}

// handleRead runs a read inline and queues its result, whose record frames
// are written straight from the mapped segment.
func (c *conn) handleRead(h wire.Header, body []byte) {
	d := wire.NewDecoder(body)
	pos := c.position(&d)
	maxRecords := d.U32("max records")
	maxBytes := d.U32("max bytes")
	if err := d.Finish(); err != nil {
		c.malformed(h, err)
		return
	}
	n, b := c.readLimits(int(maxRecords), int(maxBytes), 0)
	res := readResults.Get().(*engine.ReadResult)
	if err := c.srv.eng.Read(pos, n, b, engine.ReadPolling, res); err != nil {
		res.Release()
		readResults.Put(res)
		c.respondError(h.Op, h.ID, c.engineError(err), h.Size, 1)
		return
	}
	if e := c.sendResult(wire.OpRead, h.ID, res, h.Size, 1, nil); e != nil {
		c.respondError(h.Op, h.ID, e, h.Size, 1)
	}
}

// sendResult queues a read result or subscription event: the head from a
// pooled buffer and the record frames from the mapping. The writer releases
// res after writing. If the result does not fit the client's maximum frame
// size it queues nothing, releases res and returns the error to answer.
func (c *conn) sendResult(op wire.Op, id uint64, res *engine.ReadResult, reqCost, reqs int, sent chan<- struct{}) *wire.Error {
	frames := res.Frames()
	head := wire.ResultHead{
		Next:         res.Next,
		MillisBehind: res.MillisBehind,
		ShardEnd:     res.ShardEnd,
		Children:     res.ChildShards,
		Records:      uint32(res.Records),
		FramesLen:    uint32(len(frames)),
	}
	bb := wire.GetBuf(0)
	b, start := wire.BeginFrame(bb.B[:0])
	b = head.AppendTo(b)
	size := len(b) - start + len(frames)
	if size > c.clientMax {
		var first uint64
		res.Guard(func() {
			if f, _, err := record.DecodeFrame(frames); err == nil {
				first = f.Seq
			}
		})
		bb.B = b
		wire.PutBuf(bb)
		res.Release()
		readResults.Put(res)
		if sent != nil {
			sent <- struct{}{}
		}
		return &wire.Error{Name: "LimitExceededException", Message: fmt.Sprintf(
			"the record at internal sequence %d makes a %d byte frame, more than the %d byte maximum frame size the client announced",
			first, size, c.clientMax)}
	}
	wire.EndFrame(b, start, op, 0, id, len(frames))
	bb.B = b
	// The record frames are written straight from the mapped segment: they
	// count against the connection's budget (a reader that does not read
	// holds its leases), not the server's budget of memory.
	c.charge(size-len(frames), 0)
	c.chargeLocal(len(frames))
	c.enqueue(outFrame{buf: bb, ext: frames, res: res, sent: sent, cost: reqCost + size - len(frames), mapped: len(frames), reqs: reqs})
	return nil
}

// readSubControl reads and applies a Credit or Cancel frame. A well-formed
// one has no response, and one naming no open subscription (it may just
// have ended) is ignored; a malformed one is answered with an error response
// under its own opcode.
func (c *conn) readSubControl(h wire.Header) error {
	n := h.Size - wire.HeaderSize
	var err error
	if n > len(c.small) {
		if err := c.discard(n); err != nil {
			return err
		}
		err = &wire.DecodeError{Field: "body", Detail: fmt.Sprintf("%d bytes; a %v body is at most 4 bytes", n, h.Op)}
	} else if err = c.readFull(c.small[:n], false); err != nil {
		return err
	}
	c.release(h.Size, 1)
	var credit wire.ReqCredit
	if err == nil && h.Op == wire.OpCredit {
		err = wire.DecodeMessage(c.small[:n], &credit)
	} else if err == nil {
		err = wire.DecodeMessage(c.small[:n], &wire.ReqEmpty{})
	}
	if err != nil {
		c.violation("malformed subscription control frame", "op", h.Op, "id", h.ID, "err", err)
		c.respondError(h.Op, h.ID, &wire.Error{Name: "InvalidArgumentException",
			Message: fmt.Sprintf("malformed %v request: %v", h.Op, err)}, 0, 0)
		return nil
	}
	c.mu.Lock()
	s := c.subs[h.ID]
	if s != nil && h.Op == wire.OpCancel {
		// Free the id and the slot now: the client may reuse both at once.
		delete(c.subs, h.ID)
	}
	c.mu.Unlock()
	if s == nil {
		c.log.Debug("subscription control frame for no open subscription", "op", h.Op, "id", h.ID)
		return nil
	}
	if h.Op == wire.OpCredit {
		s.grant(int64(credit.Bytes))
	} else {
		s.cancel(errCancelled)
	}
	return nil
}
