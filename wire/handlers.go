package wire

import (
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/segment"
	"github.com/valyala/bytebufferpool"
)

// dispatch serves one request whose body has been read into bb (which it
// owns from here). Cheap operations that never block for long run inline on
// the reader; the rest run on their own goroutine so that the reader keeps
// reading (pipelining) and responses go out in completion order.
func (c *conn) dispatch(h header, bb *bytebufferpool.ByteBuffer) {
	switch h.op {
	case OpPing:
		c.handlePing(h, bb)
	case OpRead:
		c.handleRead(h, bb.B)
		putBuf(bb)
	case OpSubscribe:
		c.startSubscription(h, bb.B)
		putBuf(bb)
	case OpPutRecords:
		c.startPutRecords(h, bb)
	case OpGetIterator, OpDescribeStream, OpListStreams, OpListShards, OpListTags:
		c.handleControl(h, bb)
	case OpCreateStream, OpDeleteStream, OpSplitShard, OpMergeShards, OpUpdateShardCount,
		OpIncreaseRetention, OpDecreaseRetention, OpAddTags, OpRemoveTags, OpSetQuotas,
		OpSetDurability, OpSetMaxRecordSize, OpSetStreamMode:
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			c.handleControl(h, bb)
		}()
	default:
		putBuf(bb)
		msg := fmt.Sprintf("opcode %#02x is not an operation of protocol version %d", uint8(h.op), Version)
		if h.op == OpEvent || h.op == OpGoAway {
			msg = fmt.Sprintf("opcode %v is sent by servers only", h.op)
		}
		c.violation("unknown operation", "op", h.op, "id", h.id)
		c.respondError(h.op, h.id, &Error{Name: "InvalidArgumentException", Message: msg}, h.size, 1)
	}
}

// malformed answers a request whose body failed to decode.
func (c *conn) malformed(h header, err error) {
	c.violation("malformed request", "op", h.op, "id", h.id, "err", err)
	c.respondError(h.op, h.id, &Error{Name: "InvalidArgumentException",
		Message: fmt.Sprintf("malformed %v request: %v", h.op, err)}, h.size, 1)
}

func errTooLargeForClient(size, limit int) string {
	return fmt.Sprintf("the response is %d bytes, more than the %d byte maximum frame size the client announced; ask for less", size, limit)
}

// handlePing echoes the body.
func (c *conn) handlePing(h header, bb *bytebufferpool.ByteBuffer) {
	if h.size > c.clientMax {
		putBuf(bb)
		c.respondError(h.op, h.id, &Error{Name: "LimitExceededException", Message: errTooLargeForClient(h.size, c.clientMax)}, h.size, 1)
		return
	}
	out := getBuf(h.size)
	b, start := beginFrame(out.B[:0])
	b = append(b, bb.B...)
	endFrame(b, start, OpPing, 0, h.id, 0)
	out.B = b
	putBuf(bb)
	c.charge(len(b), 0)
	c.enqueue(outFrame{buf: out, cost: h.size + len(b), reqs: 1})
}

// handleControl decodes and runs a control operation and queues its
// response. It owns bb.
func (c *conn) handleControl(h header, bb *bytebufferpool.ByteBuffer) {
	defer putBuf(bb)
	if hook := c.srv.testHookControl; hook != nil {
		hook(h.op)
	}
	if veto := c.srv.testHookControlVeto; veto != nil && veto(h.op) {
		c.respondError(h.op, h.id, &Error{Name: "LimitExceededException", Message: "disabled by a test hook"}, h.size, 1)
		return
	}
	resp, err := c.control(h.op, bb.B)
	if err != nil {
		if _, ok := err.(*DecodeError); ok {
			c.malformed(h, err)
			return
		}
		c.respondError(h.op, h.id, wireError(err), h.size, 1)
		return
	}
	c.respond(h.op, h.id, resp, h.size)
}

// control runs one control operation.
func (c *conn) control(op Op, body []byte) (message, error) {
	eng := c.srv.eng
	switch op {
	case OpCreateStream:
		var m reqCreateStream
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		info, err := eng.CreateStream(m.In)
		if err != nil {
			return nil, err
		}
		return &respStreamInfo{Info: info}, nil
	case OpDeleteStream:
		var m reqDeleteStream
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.DeleteStream(m.Stream, m.Enforce)
	case OpDescribeStream, OpListShards, OpListTags:
		var m reqStream
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		info, err := eng.DescribeStream(m.Stream)
		if err != nil {
			return nil, err
		}
		switch op {
		case OpListShards:
			return &respShards{Shards: info.Shards}, nil
		case OpListTags:
			return &respTags{Tags: info.Tags}, nil
		}
		return &respStreamInfo{Info: info}, nil
	case OpListStreams:
		if err := decodeMessage(body, &reqEmpty{}); err != nil {
			return nil, err
		}
		return &respNames{Names: eng.ListStreams()}, nil
	case OpGetIterator:
		var m reqGetIterator
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		spec := api.IteratorSpec{Type: m.Type, Timestamp: m.Timestamp}
		if m.Type == api.AtSequenceNumber || m.Type == api.AfterSequenceNumber {
			spec.Seq = m.Seq.String()
		}
		pos, err := eng.GetIterator(m.Stream, api.ShardID(int(m.Shard)), spec)
		if err != nil {
			return nil, err
		}
		return &respPosition{Pos: pos}, nil
	case OpSplitShard:
		var m reqSplitShard
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.SplitShard(m.Stream, api.ShardID(int(m.Shard)), m.NewStart)
	case OpMergeShards:
		var m reqMergeShards
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.MergeShards(m.Stream, api.ShardID(int(m.Shard)), api.ShardID(int(m.Adjacent)))
	case OpUpdateShardCount, OpIncreaseRetention, OpDecreaseRetention, OpSetMaxRecordSize:
		var m reqStreamN
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		n := int(m.N)
		switch op {
		case OpUpdateShardCount:
			return &reqEmpty{}, eng.UpdateShardCount(m.Stream, n)
		case OpIncreaseRetention:
			return &reqEmpty{}, eng.IncreaseRetention(m.Stream, n)
		case OpDecreaseRetention:
			return &reqEmpty{}, eng.DecreaseRetention(m.Stream, n)
		}
		return &reqEmpty{}, eng.SetMaxRecordSize(m.Stream, n)
	case OpAddTags:
		var m reqAddTags
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.AddTags(m.Stream, m.Tags)
	case OpRemoveTags:
		var m reqRemoveTags
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.RemoveTags(m.Stream, m.Keys)
	case OpSetQuotas:
		var m reqSetQuotas
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.SetQuotas(m.Stream, m.Quotas)
	case OpSetDurability:
		var m reqSetDurability
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		return &reqEmpty{}, eng.SetDurability(m.Stream, m.Durability)
	case OpSetStreamMode:
		var m reqSetStreamMode
		if err := decodeMessage(body, &m); err != nil {
			return nil, err
		}
		if m.Mode == "" {
			return nil, &Error{Name: api.CodeInvalidArgument.String(), Message: "stream mode 0 (default) is not a mode; send 1 (PROVISIONED) or 2 (ON_DEMAND)"}
		}
		return &reqEmpty{}, eng.SetStreamMode(m.Stream, m.Mode)
	}
	return nil, fmt.Errorf("wire: no control handler for %v", op)
}

// resultHeadReserve is room kept in a response for the result head (next
// position, children) when sizing a read to the client's frame limit.
const resultHeadReserve = 4 << 10

// perRecordOverhead is the most a record's frame adds to its key and data:
// the frame header and the padding.
const perRecordOverhead = segment.HeaderSize + segment.Alignment - 1

// readLimits caps a read so that its response fits in the client's maximum
// frame size (and within limit bytes of frames, if limit > 0).
func (c *conn) readLimits(maxRecords, maxBytes, limit int) (int, int) {
	if maxRecords <= 0 || maxRecords > api.MaxReadRecords {
		maxRecords = api.MaxReadRecords
	}
	if maxBytes <= 0 || maxBytes > api.MaxReadBytes {
		maxBytes = api.MaxReadBytes
	}
	room := c.clientMax - HeaderSize - resultHeadReserve
	if limit > 0 && limit < room {
		room = limit
	}
	maxRecords = max(1, min(maxRecords, room/2/perRecordOverhead))
	maxBytes = max(1, min(maxBytes, room-maxRecords*perRecordOverhead))
	return maxRecords, maxBytes
}

// handleRead runs a read inline and queues its result, whose record frames
// are written straight from the mapped segment.
func (c *conn) handleRead(h header, body []byte) {
	d := newDecoder(body)
	var pos api.Position
	pos.Stream = c.intern.get(d.strBytes("stream name"))
	pos.Incarnation = d.u32("incarnation")
	pos.Shard = int(d.u32("shard"))
	pos.Seq = d.u64("sequence")
	maxRecords := d.u32("max records")
	maxBytes := d.u32("max bytes")
	if err := d.finish(); err != nil {
		c.malformed(h, err)
		return
	}
	n, b := c.readLimits(int(maxRecords), int(maxBytes), 0)
	res := readResults.Get().(*engine.ReadResult)
	if err := c.srv.eng.Read(pos, n, b, engine.ReadPolling, res); err != nil {
		res.Release()
		readResults.Put(res)
		c.respondError(h.op, h.id, wireError(err), h.size, 1)
		return
	}
	if e := c.sendResult(OpRead, h.id, res, h.size, 1, nil); e != nil {
		c.respondError(h.op, h.id, e, h.size, 1)
	}
}

// sendResult queues a read result or subscription event: the head from a
// pooled buffer and the record frames from the mapping. The writer releases
// res after writing. If the result does not fit the client's maximum frame
// size it queues nothing, releases res and returns the error to answer.
func (c *conn) sendResult(op Op, id uint64, res *engine.ReadResult, reqCost, reqs int, sent chan<- struct{}) *Error {
	frames := res.Frames()
	head := resultHead{
		Next:         res.Next,
		MillisBehind: res.MillisBehind,
		ShardEnd:     res.ShardEnd,
		Children:     res.ChildShards,
		Records:      uint32(res.Records),
		FramesLen:    uint32(len(frames)),
	}
	bb := getBuf(0)
	b, start := beginFrame(bb.B[:0])
	b = head.appendTo(b)
	size := len(b) - start + len(frames)
	if size > c.clientMax {
		var first uint64
		if f, _, err := segment.DecodeFrame(frames); err == nil {
			first = f.Seq
		}
		bb.B = b
		putBuf(bb)
		res.Release()
		readResults.Put(res)
		if sent != nil {
			sent <- struct{}{}
		}
		return &Error{Name: "LimitExceededException", Message: fmt.Sprintf(
			"the record at internal sequence %d makes a %d byte frame, more than the %d byte maximum frame size the client announced",
			first, size, c.clientMax)}
	}
	endFrame(b, start, op, 0, id, len(frames))
	bb.B = b
	c.charge(size, 0)
	c.enqueue(outFrame{buf: bb, ext: frames, res: res, sent: sent, cost: reqCost + size, reqs: reqs})
	return nil
}

// readSubControl reads and applies a Credit or Cancel frame. A well-formed
// one has no response, and one naming no open subscription (it may just
// have ended) is ignored; a malformed one is answered with an error response
// under its own opcode.
func (c *conn) readSubControl(h header) error {
	n := h.size - HeaderSize
	var err error
	if n > len(c.small) {
		if err := c.discard(n); err != nil {
			return err
		}
		err = &DecodeError{Field: "body", Detail: fmt.Sprintf("%d bytes; a %v body is at most 4 bytes", n, h.op)}
	} else if err = c.readFull(c.small[:n], false); err != nil {
		return err
	}
	c.release(h.size, 1)
	var credit reqCredit
	if err == nil && h.op == OpCredit {
		err = decodeMessage(c.small[:n], &credit)
	} else if err == nil {
		err = decodeMessage(c.small[:n], &reqEmpty{})
	}
	if err != nil {
		c.violation("malformed subscription control frame", "op", h.op, "id", h.id, "err", err)
		c.respondError(h.op, h.id, &Error{Name: "InvalidArgumentException",
			Message: fmt.Sprintf("malformed %v request: %v", h.op, err)}, 0, 0)
		return nil
	}
	c.mu.Lock()
	s := c.subs[h.id]
	if s != nil && h.op == OpCancel {
		// Free the id and the slot now: the client may reuse both at once.
		delete(c.subs, h.id)
	}
	c.mu.Unlock()
	if s == nil {
		c.log.Debug("subscription control frame for no open subscription", "op", h.op, "id", h.id)
		return nil
	}
	if h.op == OpCredit {
		s.grant(int64(credit.Bytes))
	} else {
		s.cancel(errCancelled)
	}
	return nil
}
