package wireserver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/wire"
)

// eventSlots is how many written-but-not-yet-sent events one subscription
// may have queued: two, so that the next event is read while the previous
// one is being written. Each holds a segment lease until written.
const eventSlots = 2

// maxCredit caps a subscription's credit so that grants cannot overflow.
const maxCredit = 1 << 40

// subscription pushes one shard's records to a client as they are
// committed, within the credit the client grants (flow control: the server
// never holds more than the credit plus one record for a subscriber).
type subscription struct {
	c      *conn
	h      wire.Header // the Subscribe request
	pos    api.Position
	credit atomic.Int64  // bytes of record frames the client will accept
	sent   int64         // bytes of record frames sent (this goroutine only)
	wake   chan struct{} // capacity 1: a grant arrived
	slots  chan struct{} // tokens for queued events, returned by the writer
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// startSubscription decodes a Subscribe request, checks its position and
// starts the subscription's goroutine.
func (c *conn) startSubscription(h wire.Header, body []byte) {
	d := wire.NewDecoder(body)
	pos := c.position(&d)
	credit := d.U32("credit")
	if err := d.Finish(); err != nil {
		c.malformed(h, err)
		return
	}
	if _, err := c.srv.eng.Notify(pos); err != nil {
		c.respondError(h.Op, h.ID, c.engineError(err), h.Size, 1)
		return
	}
	s := &subscription{c: c, h: h, pos: pos, wake: make(chan struct{}, 1), slots: make(chan struct{}, eventSlots)}
	for range eventSlots {
		s.slots <- struct{}{}
	}
	s.credit.Store(int64(credit))
	s.ctx, s.cancel = context.WithCancelCause(c.ctx)
	c.mu.Lock()
	switch {
	case c.subs[h.ID] != nil:
		c.mu.Unlock()
		s.cancel(nil)
		c.respondError(h.Op, h.ID, &wire.Error{Name: "InvalidArgumentException",
			Message: fmt.Sprintf("request id %d already names an open subscription on this connection; use a new id", h.ID)}, h.Size, 1)
		return
	case len(c.subs) >= c.srv.opts.MaxSubscriptions:
		c.mu.Unlock()
		s.cancel(nil)
		c.respondError(h.Op, h.ID, &wire.Error{Name: "LimitExceededException",
			Message: fmt.Sprintf("the connection has %d subscriptions open, the most it may; cancel one or open another connection", c.srv.opts.MaxSubscriptions)}, h.Size, 1)
		return
	}
	c.subs[h.ID] = s
	c.mu.Unlock()
	c.handlers.Add(1)
	go s.run()
}

// grant adds credit and wakes the subscription.
func (s *subscription) grant(n int64) {
	if v := s.credit.Add(n); v > maxCredit {
		s.credit.Add(maxCredit - v)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the subscription's goroutine. Protocol: while the credit is
// positive it reads at most min(credit, MaxEventBytes) bytes of record
// frames at its position and queues them as an OpEvent (at most eventSlots
// events unwritten); it deducts the frames' bytes from the credit, so an
// event may take it below zero by at most one record. With the credit spent
// it waits for a grant. With nothing to read it blocks in engine.Wait,
// which a commit on the shard, the shard's closing or the stream's deletion
// ends (no polling). At the end of a closed shard it sends the event that
// carries the children and ends. It ends with the OpSubscribe response:
// empty after the shard's end or a Cancel, an error after an engine error
// or when the server shuts down.
func (s *subscription) run() {
	c := s.c
	defer c.handlers.Done()
	err := s.loop()
	c.mu.Lock()
	if c.subs[s.h.ID] == s {
		delete(c.subs, s.h.ID)
	}
	c.mu.Unlock()
	s.cancel(nil)
	switch {
	case err == nil, errors.Is(err, errCancelled):
		c.respond(wire.OpSubscribe, s.h.ID, &wire.ReqEmpty{}, s.h.Size)
	case errors.Is(err, errShuttingDown):
		c.respondError(wire.OpSubscribe, s.h.ID, &wire.Error{Name: "InternalFailureException",
			Message: "the server is shutting down; resume from the last event's next position on a new connection"}, s.h.Size, 1)
	case errors.Is(err, errConnClosed):
		c.release(s.h.Size, 1)
	default:
		c.respondError(wire.OpSubscribe, s.h.ID, c.engineError(err), s.h.Size, 1)
	}
}

func (s *subscription) loop() error {
	c := s.c
	eng := c.srv.eng
	for {
		if s.ctx.Err() != nil {
			return context.Cause(s.ctx)
		}
		credit := s.credit.Load()
		if credit <= 0 {
			if hook := c.srv.testHookCreditWait; hook != nil {
				hook(s.sent)
			}
			select {
			case <-s.wake:
			case <-s.ctx.Done():
			}
			continue
		}
		select {
		case <-s.slots:
		case <-s.ctx.Done():
			continue
		}
		n, b := c.readLimits(api.MaxReadRecords, int(min(credit, int64(c.srv.opts.MaxEventBytes))), c.srv.opts.MaxEventBytes)
		res := readResults.Get().(*engine.ReadResult)
		if err := eng.Read(s.pos, n, b, engine.ReadSubscription, res); err != nil {
			res.Release()
			readResults.Put(res)
			s.slots <- struct{}{}
			return err
		}
		if res.Records == 0 && !res.ShardEnd {
			res.Release()
			readResults.Put(res)
			s.slots <- struct{}{}
			if err := eng.Wait(s.ctx, s.pos); err != nil && s.ctx.Err() == nil {
				return err
			}
			continue
		}
		spent := int64(len(res.Frames()))
		next, end := res.Next, res.ShardEnd
		if e := c.sendResult(wire.OpEvent, s.h.ID, res, 0, 0, s.slots); e != nil {
			return e
		}
		s.credit.Add(-spent)
		s.sent += spent
		s.pos = next
		if end {
			return nil
		}
	}
}
