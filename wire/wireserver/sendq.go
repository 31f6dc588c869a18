package wireserver

import (
	"log/slog"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// outFrame is one or more frames queued for the writer: buf holds headers
// and bodies (several back-to-back frames for coalesced put responses); ext,
// if set, is written right after buf straight from a mapped segment (the
// record frames of a read result or event) and stays valid until res is
// released.
type outFrame struct {
	buf    *bytebufferpool.ByteBuffer
	ext    []byte
	res    *engine.ReadResult
	sent   chan<- struct{} // receives a token once written (subscription pacing), or nil
	cost   int             // budget bytes returned once written
	mapped int             // bytes of ext charged to the connection's budget only
	reqs   int             // requests this frame answers
}

// readResults pools the engine's read results, which hold a segment lease
// from the read until the writer has written their frames.
var readResults = sync.Pool{New: func() any { return new(engine.ReadResult) }}

// enqueue hands f to the writer. It never blocks: the queue is bounded by
// the connection's budget, which the reader waits on. Once the queue is
// closed (the connection is stopping, or a write failed) the frame is
// released at once.
func (c *conn) enqueue(f outFrame) {
	if !c.queue.Push(f) {
		c.finish(f)
		c.release(f.cost, f.reqs)
		c.releaseLocal(f.mapped)
	}
}

// finish releases what a frame holds once it is written (or dropped).
func (c *conn) finish(f outFrame) {
	if f.buf != nil {
		wire.PutBuf(f.buf)
	}
	if f.res != nil {
		f.res.Release()
		readResults.Put(f.res)
	}
	if f.sent != nil {
		f.sent <- struct{}{}
	}
}

// writeLoop is the connection's only writer. Each round it takes every
// frame queued so far and writes them with one writev (net.Buffers):
// headers and bodies from pooled buffers, record frames straight from the
// mapped segments, with no copy in user space (over TLS, in record-sized
// writes instead: see wire.WriteCoalesced). Then it releases the buffers
// and segment leases and returns their cost to the connection's budget. It
// exits when the queue is closed and empty. After a write error it closes
// the connection (which ends the reader) and drops every later frame.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var vec [][]byte
	// One writev, straight from the mapped segments; over TLS, record-sized
	// writes (see wire.WriteCoalesced for the copies TLS costs).
	fw := wire.NewFrameWriter(c.nc)
	for {
		// Take lets handlers that are about to respond run first, so that
		// one write carries their responses too. A write that is already
		// large (a read result) goes at once.
		batch, closed := c.queue.Take(smallResponseBatch)
		if len(batch) == 0 && closed {
			return
		}
		if !c.wfailed.Load() {
			vec = vec[:0]
			for i := range batch {
				vec = append(vec, batch[i].buf.B)
				if len(batch[i].ext) > 0 {
					vec = append(vec, batch[i].ext)
				}
			}
			if wt := c.srv.opts.WriteTimeout; wt > 0 {
				c.nc.SetWriteDeadline(time.Now().Add(wt))
			}
			if _, err := fw.Write(vec); err != nil {
				c.log.Info("write failed; closing connection", "err", err)
				c.wfailed.Store(true)
				c.queue.Close()
				c.nc.Close()
			}
			clear(vec)
		}
		cost, mapped, reqs := 0, 0, 0
		for i := range batch {
			c.finish(batch[i])
			cost += batch[i].cost
			mapped += batch[i].mapped
			reqs += batch[i].reqs
		}
		c.release(cost, reqs)
		c.releaseLocal(mapped)
		c.queue.Recycle(batch)
	}
}

func smallResponseBatch(q []outFrame) bool {
	return len(q) < wire.SmallBatch && queuedBytes(q) < smallBatchBytes
}

// smallBatchBytes is the queued size below which the writer yields once
// to gather more frames; above it the write is worth making at once.
const smallBatchBytes = 16 << 10

// queuedBytes sums the bytes of queued frames.
func queuedBytes(q []outFrame) int {
	n := 0
	for i := range q {
		n += len(q[i].buf.B) + len(q[i].ext)
	}
	return n
}

// respond queues the response m to request id. ReqCost is the request's
// charge, returned once the response is written.
func (c *conn) respond(op wire.Op, id uint64, m wire.Message, reqCost int) {
	bb := wire.GetBuf(0)
	b, start := wire.BeginFrame(bb.B[:0])
	b = m.AppendTo(b)
	if size := len(b) - start; size > c.clientMax {
		bb.B = b
		wire.PutBuf(bb)
		c.respondError(op, id, &wire.Error{Name: "LimitExceededException", Message: errTooLargeForClient(size, c.clientMax)}, reqCost, 1)
		return
	}
	wire.EndFrame(b, start, op, 0, id, 0)
	bb.B = b
	c.enqueue(outFrame{buf: bb, cost: reqCost, reqs: 1})
}

// respondError queues an error response to request id.
func (c *conn) respondError(op wire.Op, id uint64, e *wire.Error, reqCost, reqs int) {
	bb := wire.GetBuf(0)
	b, start := wire.BeginFrame(bb.B[:0])
	b = wire.AppendError(b, e)
	wire.EndFrame(b, start, op, wire.FlagError, id, 0)
	bb.B = b
	c.enqueue(outFrame{buf: bb, cost: reqCost, reqs: reqs})
}

// sendGoAway queues an OpGoAway frame.
func (c *conn) sendGoAway(m *wire.GoAway) {
	bb := wire.GetBuf(0)
	b, start := wire.BeginFrame(bb.B[:0])
	b = m.AppendTo(b)
	wire.EndFrame(b, start, wire.OpGoAway, 0, 0, 0)
	bb.B = b
	c.enqueue(outFrame{buf: bb})
}

// engineError converts an engine error to its wire form, logging an
// internal failure's cause, which the client is not told.
func (c *conn) engineError(err error) *wire.Error {
	if api.CodeOf(err) == api.CodeInternal {
		c.srv.internalLog.Log(c.log, slog.LevelError, "request failed", "err", err)
	}
	return wire.ErrorOf(err)
}
