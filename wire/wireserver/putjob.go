package wireserver

import (
	"slices"
	"sync"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// putJob is the work of one goroutine of puts: either one PutRecords
// request, or a run of PutRecord requests that arrived back to back, which
// the server coalesces into PutRecords calls so that pipelined
// single-record puts share the engine's group commit and one response
// write. Records alias body; nothing is copied per record.
type putJob struct {
	c       *conn
	body    *bytebufferpool.ByteBuffer
	cost    int // budget bytes of the requests, returned when answered
	batch   bool
	op      wire.Op // of the batch's response: PutRecords, or PutShard
	id      uint64  // the PutRecords request
	stream  string  // the PutRecords request's stream
	req     wire.ReqPutRecords
	single  wire.ReqPutRecord
	spans   []span   // PutRecord requests: where each body lies in body
	ids     []uint64 // PutRecord requests, one per record
	streams []string // each record's stream
	// resource is the PutRecords request's stream ARN and resources each
	// PutRecord request's, for the audit log (kept only with one).
	resource  string
	resources []string
	recs      []api.PutRecord
	results   []api.PutResult
}

type span struct {
	h          wire.Header
	start, end int
}

var putJobs = sync.Pool{New: func() any { return new(putJob) }}

func getPutJob(c *conn) *putJob {
	j := putJobs.Get().(*putJob)
	j.c = c
	return j
}

func (j *putJob) free() {
	if j.body != nil {
		wire.PutBuf(j.body)
	}
	clear(j.recs)
	clear(j.results)
	clear(j.streams)
	clear(j.resources)
	clear(j.req.Recs)
	*j = putJob{
		spans: j.spans[:0], ids: j.ids[:0], streams: j.streams[:0], resources: j.resources[:0],
		recs: j.recs[:0], results: j.results[:0], req: wire.ReqPutRecords{Recs: j.req.Recs[:0]},
	}
	putJobs.Put(j)
}

// maxCoalesce bounds the requests one job coalesces: one PutRecords call's
// worth.
const maxCoalesce = api.MaxPutRecords

// readPuts reads the PutRecord request whose header is h, and every
// further PutRecord request already complete in the read buffer, and hands
// them to one goroutine.
func (c *conn) readPuts(h wire.Header) error {
	j := getPutJob(c)
	j.body = wire.GetBuf(h.Size - wire.HeaderSize) // picks the pool; grows as bytes arrive
	n := h.Size - wire.HeaderSize
	var err error
	if j.body.B, err = c.readBody(j.body.B[:0], n); err != nil {
		j.free()
		return err
	}
	j.spans = append(j.spans, span{h: h, start: 0, end: n})
	// Room for every frame already buffered, so that coalescing does not
	// grow the body as it goes.
	j.body.B = slices.Grow(j.body.B, c.br.Buffered())
	for len(j.spans) < maxCoalesce && c.br.Buffered() >= wire.HeaderSize {
		hb, _ := c.br.Peek(wire.HeaderSize)
		fh, err := wire.ParseHeader(hb, c.srv.opts.MaxFrameSize)
		if err != nil || fh.Op != wire.OpPutRecord || fh.Flags != 0 || fh.ID == 0 || fh.Size > c.br.Buffered() {
			break
		}
		frame, _ := c.br.Peek(fh.Size)
		start := len(j.body.B)
		j.body.B = append(j.body.B, frame[wire.HeaderSize:]...)
		c.br.Discard(fh.Size)
		c.charge(fh.Size, 1)
		j.spans = append(j.spans, span{h: fh, start: start, end: len(j.body.B)})
	}
	// Decode once the body no longer moves.
	check := c.user != nil || c.srv.opts.Audit != nil
	var allowed []byte // the stream the previous request of the job was allowed to put to
	var resource string
	for _, sp := range j.spans {
		m := &j.single
		d := wire.NewDecoder(j.body.B[sp.start:sp.end])
		m.DecodeFrom(&d)
		if err := d.Finish(); err != nil {
			c.malformed(sp.h, err)
			continue
		}
		// Requests read together are judged together: one decision per
		// stream and job, as for one PutRecords request.
		if check && (allowed == nil || string(allowed) != string(m.Stream)) {
			var e *wire.Error
			allowed = nil
			resource, e = c.authorize(opActions[wire.OpPutRecord], m.Stream)
			if e == nil && c.user != nil {
				e = c.authorizeStreamKey(wire.OpPutRecord, nil)
			}
			if e != nil {
				c.audit(opActions[wire.OpPutRecord], resource, auth.OutcomeDenied)
				c.respondError(wire.OpPutRecord, sp.h.ID, e, sp.h.Size, 1)
				continue
			}
			allowed = m.Stream
		}
		if len(m.SeqForOrdering) > 0 {
			if _, err := api.ParseSeqNum(string(m.SeqForOrdering)); err != nil {
				c.respondError(wire.OpPutRecord, sp.h.ID, c.engineError(err), sp.h.Size, 1)
				continue
			}
		}
		j.cost += sp.h.Size
		j.ids = append(j.ids, sp.h.ID)
		j.streams = append(j.streams, c.intern.get(m.Stream))
		if c.srv.opts.Audit != nil {
			j.resources = append(j.resources, resource)
		}
		j.recs = append(j.recs, m.Rec)
	}
	if len(j.recs) == 0 {
		j.free()
		return nil
	}
	c.handlers.Add(1)
	go j.run()
	return nil
}

// startPutRecords decodes a PutRecords request and hands it to a goroutine.
// It owns bb.
func (c *conn) startPutRecords(h wire.Header, bb *bytebufferpool.ByteBuffer, resource string) {
	j := getPutJob(c)
	j.body = bb
	j.resource = resource
	d := wire.NewDecoder(bb.B)
	j.req.DecodeFrom(&d)
	if err := d.Finish(); err != nil {
		j.free()
		c.malformed(h, err)
		return
	}
	j.batch = true
	j.op = wire.OpPutRecords
	j.id = h.ID
	j.cost = h.Size
	j.stream = c.intern.get(j.req.Stream)
	c.handlers.Add(1)
	go j.run()
}

// run makes the engine calls and queues the responses.
func (j *putJob) run() {
	c := j.c
	defer c.handlers.Done()
	defer j.free()
	eng := c.srv.eng
	if j.batch {
		j.results = slices.Grow(j.results[:0], len(j.req.Recs))[:len(j.req.Recs)]
		failed, err := eng.PutRecords(j.stream, j.req.Recs, j.results)
		if err != nil {
			e := j.c.engineError(err)
			c.auditResult(j.op, j.resource, e)
			c.respondError(j.op, j.id, e, j.cost, 1)
			return
		}
		c.auditResult(j.op, j.resource, nil)
		bb := wire.GetBuf(len(j.results) * (1 + wire.SeqNumSize))
		b, start := wire.BeginFrame(bb.B[:0])
		b = wire.AppendU16(b, uint16(len(j.results)))
		b = wire.AppendU16(b, uint16(failed))
		for i := range j.results {
			b = wire.AppendPutResult(b, &j.results[i])
		}
		wire.EndFrame(b, start, j.op, 0, j.id, 0)
		bb.B = b
		c.enqueue(outFrame{buf: bb, cost: j.cost, reqs: 1})
		return
	}

	n := len(j.recs)
	j.results = slices.Grow(j.results[:0], n)[:n]
	for s := 0; s < n; {
		// A run: the same stream, within one PutRecords call's limits.
		e, bytes := s, 0
		for e < n && e-s < api.MaxPutRecords && j.streams[e] == j.streams[s] {
			sz := len(j.recs[e].Key) + len(j.recs[e].Data)
			if e > s && bytes+sz > api.MaxPutBytes {
				break
			}
			bytes += sz
			e++
		}
		if _, err := eng.PutRecords(j.streams[s], j.recs[s:e], j.results[s:e]); err != nil {
			// The call was refused as a whole (an invalid record, an
			// unknown stream): put each record alone so that each gets its
			// own answer.
			if e-s == 1 {
				j.results[s] = api.PutResult{Err: err}
			} else {
				for i := s; i < e; i++ {
					if _, err := eng.PutRecords(j.streams[i], j.recs[i:i+1], j.results[i:i+1]); err != nil {
						j.results[i] = api.PutResult{Err: err}
					}
				}
			}
		}
		s = e
	}
	bb := wire.GetBuf(n * (wire.HeaderSize + wire.SeqNumSize))
	b := slices.Grow(bb.B[:0], n*(wire.HeaderSize+wire.SeqNumSize))
	for i := range j.results {
		r := &j.results[i]
		var start int
		b, start = wire.BeginFrame(b)
		if r.Err == nil {
			b = wire.AppendSeqNum(b, r.Seq)
			wire.EndFrame(b, start, wire.OpPutRecord, 0, j.ids[i], 0)
			if len(j.resources) > 0 {
				c.auditResult(wire.OpPutRecord, j.resources[i], nil)
			}
		} else {
			e := j.c.engineError(r.Err)
			if len(j.resources) > 0 {
				c.auditResult(wire.OpPutRecord, j.resources[i], e)
			}
			b = wire.AppendErrorBody(b, e.Name, e.Message)
			wire.EndFrame(b, start, wire.OpPutRecord, wire.FlagError, j.ids[i], 0)
		}
	}
	bb.B = b
	c.enqueue(outFrame{buf: bb, cost: j.cost, reqs: n})
}
