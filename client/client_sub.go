package client

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// SubscribeOptions configures a subscription.
type SubscribeOptions struct {
	// Window is the subscription's credit: the bytes of record frames the
	// server may send beyond what Next has taken; default 1 MiB, at most
	// 1 GiB. A subscriber that stops calling Next holds at most Window bytes
	// plus one record, and the server holds nothing for it beyond that.
	// Larger windows keep a fast subscriber's pipe full.
	Window int
}

// Event is one push of records on a subscription. The Records alias the
// event's own buffer and stay valid as long as they are referenced, unless
// the event is Released. After the last event of a closed shard (ShardEnd),
// Next returns io.EOF.
type Event struct {
	Batch

	body *bytebufferpool.ByteBuffer
}

// Subscription receives the records of one shard as they are committed.
// Next is for one goroutine at a time; Close may be called from any.
type Subscription struct {
	c      *Client
	id     uint64
	window int
	notify chan struct{} // capacity 1: an event or the end arrived

	// mu guards queue, err and closed.
	mu     sync.Mutex
	queue  []*bytebufferpool.ByteBuffer // event bodies received and not yet taken
	err    error                        // the end: io.EOF after the shard's end or a cancel
	closed bool

	// Owned by the goroutine calling Next.
	owed int          // frame bytes taken and not yet granted back
	pos  api.Position // where the next event starts
}

// Subscribe starts pushing the records of pos's shard from pos (a position
// from GetIterator or a read's or event's Next). A position the server
// cannot serve is reported by the first Next.
func (c *Client) Subscribe(ctx context.Context, pos api.Position, opts SubscribeOptions) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		opts.Window = 1 << 20
	}
	opts.Window = min(opts.Window, 1<<30)
	s := &Subscription{c: c, id: c.nextID.Add(1), window: opts.Window, notify: make(chan struct{}, 1), pos: pos}
	bb, start := c.frame()
	bb.B = (&wire.ReqSubscribe{Pos: pos, Credit: uint32(opts.Window)}).AppendTo(bb.B)
	wire.EndFrame(bb.B, start, wire.OpSubscribe, 0, s.id, 0)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.subs[s.id] = s
	c.mu.Unlock()
	c.send(bb)
	return s, nil
}

// SubscribeShard is GetIterator followed by Subscribe.
func (c *Client) SubscribeShard(ctx context.Context, stream, shardID string, spec api.IteratorSpec, opts SubscribeOptions) (*Subscription, error) {
	pos, err := c.GetIterator(ctx, stream, shardID, spec)
	if err != nil {
		return nil, err
	}
	return c.Subscribe(ctx, pos, opts)
}

// sendControl queues a Credit or Cancel frame for subscription id.
func (c *Client) sendControl(op wire.Op, id uint64, credit uint32) {
	bb, start := c.frame()
	if op == wire.OpCredit {
		bb.B = wire.AppendU32(bb.B, credit)
	}
	wire.EndFrame(bb.B, start, op, 0, id, 0)
	c.send(bb)
}

// deliver is called by the client's reader with an event or the
// subscription's final response; it owns bb from here.
func (s *Subscription) deliver(h wire.Header, bb *bytebufferpool.ByteBuffer) {
	if h.Op == wire.OpEvent {
		s.mu.Lock()
		if s.err == nil && !s.closed {
			s.queue = append(s.queue, bb)
			bb = nil
		}
		s.mu.Unlock()
		if bb != nil {
			wire.PutBuf(bb)
		}
		s.wake()
		return
	}
	s.c.mu.Lock()
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
	var err error = io.EOF
	if h.Flags&wire.FlagError != 0 {
		if e, derr := wire.DecodeErrorBody(bb.B); derr != nil {
			err = derr
		} else {
			err = e
		}
	} else if len(bb.B) != 0 {
		err = fmt.Errorf("%w: the Subscribe response has a %d byte body; it is empty", wire.ErrMalformed, len(bb.B))
	}
	wire.PutBuf(bb)
	s.end(err)
}

// end records the subscription's end.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one. It returns io.EOF after
// the shard's last event (ShardEnd) or after Close by the server's
// acknowledgement, an *Error if the server ended the subscription (an
// unknown position, the stream's deletion, a shutdown), an error matching
// ErrCorruptRecord if an event failed verification, and ErrClosed after
// Close.
func (s *Subscription) Next(ctx context.Context) (*Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, wire.ErrClosed
		}
		if len(s.queue) > 0 {
			body := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			empty := len(s.queue) == 0
			s.mu.Unlock()
			ev, frames, err := s.decode(body)
			if err != nil {
				wire.PutBuf(body)
				s.Close()
				return nil, err
			}
			s.owed += frames
			if empty || s.owed >= s.window/4 {
				s.grant()
			}
			return ev, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if s.owed > 0 {
			s.grant()
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// grant returns the bytes taken to the server's credit.
func (s *Subscription) grant() {
	s.c.sendControl(wire.OpCredit, s.id, uint32(s.owed))
	s.owed = 0
}

// decode verifies an event body and returns the event, which owns bb,
// and its frames' size.
func (s *Subscription) decode(bb *bytebufferpool.ByteBuffer) (*Event, int, error) {
	var head wire.ResultHead
	frames, err := wire.DecodeResult(bb.B, &head)
	if err != nil {
		return nil, 0, fmt.Errorf("decode event: %w", err)
	}
	if !sameShard(head.Next, s.pos) {
		return nil, 0, fmt.Errorf("%w: an event is for %s/%d/%d, not the subscribed shard", wire.ErrMalformed, head.Next.Stream, head.Next.Incarnation, head.Next.Shard)
	}
	ev := events.Get().(*Event)
	if err := ev.decode(frames, &head); err != nil {
		ev.Release()
		return nil, 0, err
	}
	if len(ev.Records) > 0 && ev.Records[0].Seq.Seq < s.pos.Seq {
		ev.Release()
		return nil, 0, fmt.Errorf("%w: an event starts at sequence %d, before the subscription's position %d", wire.ErrCorruptRecord, ev.Records[0].Seq.Seq, s.pos.Seq)
	}
	ev.body = bb
	s.pos = head.Next
	return ev, len(frames), nil
}

// events pools Events and their Records slices for Release.
var events = sync.Pool{New: func() any { return new(Event) }}

// Release returns the event's buffer for reuse by later events. Calling it
// is optional (without it the garbage collector frees the buffer); after it
// neither the event nor its records may be used.
func (e *Event) Release() {
	if e.body != nil {
		wire.PutBuf(e.body)
	}
	clear(e.Records)
	*e = Event{Batch: Batch{Records: e.Records[:0]}}
	events.Put(e)
}

// Position is where the subscription continues after the events Next has
// returned: resume from it with a new Subscribe.
func (s *Subscription) Position() api.Position { return s.pos }

// Close cancels the subscription. Events not yet taken are dropped; Next
// returns ErrClosed.
func (s *Subscription) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	done := s.err != nil
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, bb := range q {
		wire.PutBuf(bb)
	}
	s.c.mu.Lock()
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
	if !done {
		s.c.sendControl(wire.OpCancel, s.id, 0)
	}
	s.wake()
	return nil
}

// Buffered returns the bytes of events received and not yet taken by Next.
func (s *Subscription) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.queue {
		n += len(b.B)
	}
	return n
}
