package wireserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/wire"
)

// Reasons a connection ends, as the causes of its context.
var (
	errShuttingDown = errors.New("the server is shutting down")
	errConnClosed   = errors.New("connection closed")
	errCancelled    = errors.New("subscription cancelled")
	errIdle         = errors.New("idle timeout")
)

// maxLoggedViolations is how many protocol violations of one connection are
// logged at Warn; later ones go to Debug so that a misbehaving client cannot
// flood the log.
const maxLoggedViolations = 16

// conn is one client connection. Its reader goroutine (serve) reads and
// dispatches frames; cheap, non-blocking operations run inline, puts and
// control operations on goroutines of their own, subscriptions on one
// goroutine each; its writer goroutine (writeLoop) writes every response.
type conn struct {
	srv       *Server
	nc        net.Conn
	br        *bufio.Reader
	log       *slog.Logger
	clientMax int // the largest frame the client accepts, from its hello

	ctx    context.Context // cancelled with a cause when the connection stops
	cancel context.CancelCauseFunc
	// readCtx ends when the connection stops or drains: the reader's waits
	// for the server's budget end with it.
	readCtx     context.Context
	stopReading context.CancelFunc

	// mu guards inBytes, inReqs, subs and stopping; cond (on mu) wakes the
	// reader when budget is returned or the connection stops.
	mu       sync.Mutex
	cond     sync.Cond
	inBytes  int // request and response bytes charged and not yet written
	inMapped int // the part of inBytes that is record frames from mappings (not in the server's budget)
	inReqs   int // requests read and not yet answered (a subscription counts until its end)
	subs     map[uint64]*subscription
	stopping bool

	queue      wire.SendQueue[outFrame] // responses and events for the writer
	wfailed    atomic.Bool              // a write failed: the writer drops what is queued
	writerDone chan struct{}

	// dlmu orders the reader's deadline extensions with drain: once
	// draining is set under it, no one moves the read deadline again.
	dlmu     sync.Mutex
	draining bool

	handlers   sync.WaitGroup // request goroutines and subscriptions
	violations atomic.Int32

	// Reader goroutine state.
	deadlineSet time.Time // when the idle deadline was last moved
	hdr         [wire.HeaderSize]byte
	small       [64]byte // bodies of Credit and Cancel
	intern      interner
	authState   // who the connection runs as, and its authorization cache
}

func newConn(s *Server, nc net.Conn) *conn {
	remote := nc.RemoteAddr().String()
	c := &conn{
		srv:        s,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, s.opts.ReadBufferSize),
		log:        s.log.With("remote", remote),
		subs:       map[uint64]*subscription{},
		writerDone: make(chan struct{}),
	}
	c.cond.L = &c.mu
	c.remote = remote
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.readCtx, c.stopReading = context.WithCancel(c.ctx)
	return c
}

// serve runs the connection: handshake, then the read loop on this
// goroutine and the writer on another, then the shutdown sequence: stop the
// subscriptions, wait for every handler (so that every request read gets
// its response), send a GoAway if there is something to say, let the writer
// drain the queue, close.
func (c *conn) serve() {
	defer c.nc.Close()
	if !c.handshake() {
		return
	}
	go c.writeLoop()
	err := c.readLoop()

	cause := errConnClosed
	var away *wire.GoAway
	var fe *wire.FrameError
	switch {
	case errors.Is(err, errShuttingDown):
		cause = errShuttingDown
		away = &wire.GoAway{Name: "InternalFailureException", Message: "the server is shutting down"}
	case errors.Is(err, errIdle):
		c.log.Info("closing idle connection", "idle_timeout", c.srv.opts.IdleTimeout)
		away = &wire.GoAway{Name: "LimitExceededException", Message: fmt.Sprintf("closing the connection after %v without requests", c.srv.opts.IdleTimeout)}
	case errors.As(err, &fe):
		c.violation("closing connection after a bad frame", "err", err)
		away = &wire.GoAway{Name: "InvalidArgumentException", Message: fe.Error()}
	case errors.Is(err, errProtocol):
		c.violation("closing connection after a protocol violation", "err", err)
		away = &wire.GoAway{Name: "InvalidArgumentException", Message: err.Error()}
	case errors.Is(err, errRevoked):
		away = &wire.GoAway{Name: wire.NameUnrecognizedClient, Message: "the connection's access key was removed from the server's users (or given another secret); reconnect with a valid key"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.violation("connection closed in the middle of a frame", "err", err)
	case err == io.EOF, errors.Is(err, net.ErrClosed):
		c.log.Debug("connection closed by the client")
	default:
		c.log.Info("connection ended", "err", err)
	}
	c.stop(cause)
	if away != nil {
		c.sendGoAway(away)
	}
	c.queue.Close()
	<-c.writerDone
	c.releaseRest()
	if !c.wfailed.Load() {
		c.linger()
	}
}

// lingerTimeout bounds the wait for a client to close after the server has
// finished writing to it.
const lingerTimeout = time.Second

// linger closes the connection without losing what was written: closing a
// socket with unread requests in its receive buffer makes the kernel reset
// the connection, and a reset can discard responses (and the GoAway) the
// client has not read yet. So the server shuts down its side for writing,
// reads and discards until the client closes (or lingerTimeout passes),
// and then closes.
func (c *conn) linger() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, c.nc)
}

// errProtocol is matched by read loop errors that end the connection
// because the client broke the protocol in a way that leaves the byte
// stream untrustworthy.
var errProtocol = errors.New("protocol violation")

// stop ends every subscription with cause and waits for all handlers.
func (c *conn) stop(cause error) {
	c.mu.Lock()
	c.stopping = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel(cause)
	c.handlers.Wait()
}

// drain asks the reader to stop at the next frame boundary (or at once, if
// it is waiting for one): Shutdown and Close call it.
func (c *conn) drain() {
	c.dlmu.Lock()
	c.draining = true
	c.nc.SetReadDeadline(time.Unix(1, 0))
	c.dlmu.Unlock()
	c.stopReading()
	c.mu.Lock()
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *conn) isDraining() bool {
	c.dlmu.Lock()
	defer c.dlmu.Unlock()
	return c.draining
}

// setReadDeadline moves the idle deadline unless the connection is
// draining.
func (c *conn) setReadDeadline() error {
	c.dlmu.Lock()
	defer c.dlmu.Unlock()
	if c.draining {
		return errShuttingDown
	}
	if c.srv.opts.IdleTimeout > 0 {
		c.deadlineSet = time.Now()
		c.nc.SetReadDeadline(c.deadlineSet.Add(c.srv.opts.IdleTimeout))
	}
	return nil
}

// handshake reads the client's hello and answers it.
func (c *conn) handshake() bool {
	c.nc.SetDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	h, err := wire.ReadHello(c.br)
	if err != nil {
		c.violation("handshake failed", "err", err)
		return false
	}
	status := wire.StatusOK
	switch {
	case h.Version < 1:
		status = wire.StatusVersion
		c.violation("handshake failed: unsupported protocol version", "version", h.Version, "supported", wire.Version)
	case h.MaxFrame < wire.MinMaxFrameSize:
		status = wire.StatusBadHello
		c.violation("handshake failed: client's maximum frame size is too small", "max_frame", h.MaxFrame, "minimum", wire.MinMaxFrameSize)
	}
	c.clientMax = int(h.MaxFrame)
	if status == wire.StatusOK && c.srv.opts.Auth != nil {
		return c.authenticate(h) // answers the hello itself
	}
	reply := wire.Hello{Version: wire.Version, Status: status, MaxFrame: uint32(c.srv.opts.MaxFrameSize)}.Marshal()
	if _, err := c.nc.Write(reply[:]); err != nil || status != wire.StatusOK {
		return false
	}
	c.nc.SetDeadline(time.Time{})
	return true
}

// violation logs a protocol violation.
func (c *conn) violation(msg string, args ...any) {
	if c.violations.Add(1) <= maxLoggedViolations {
		c.log.Warn(msg, args...)
	} else {
		c.log.Debug(msg, args...)
	}
}

// readLoop reads frames until the connection ends and returns why.
func (c *conn) readLoop() error {
	maxFrame := c.srv.opts.MaxFrameSize
	for {
		if !c.waitBudget() {
			return errShuttingDown
		}
		// Move the idle deadline when the next read may block, and at least
		// every half timeout, so that a client streaming frames back to
		// back is never cut off in the middle of one.
		if idle := c.srv.opts.IdleTimeout; c.br.Buffered() < wire.HeaderSize || idle > 0 && time.Since(c.deadlineSet) > idle/2 {
			if err := c.setReadDeadline(); err != nil {
				return err
			}
		}
		if err := c.readFull(c.hdr[:], true); err != nil {
			return err
		}
		h, err := wire.ParseHeader(c.hdr[:], maxFrame)
		if err != nil {
			var fe *wire.FrameError
			if errors.As(err, &fe) && fe.Detail == "" && h.ID != 0 {
				c.respondError(h.Op, h.ID, &wire.Error{Name: "InvalidArgumentException", Message: fe.Error()}, 0, 0)
			}
			return err
		}
		if h.ID == 0 {
			return fmt.Errorf("%w: request id 0 is reserved for server messages; number requests from 1", errProtocol)
		}
		bodyLen := h.Size - wire.HeaderSize
		if err := c.reserve(h.Size); err != nil {
			return err
		}
		if err := c.setFrameDeadline(); err != nil {
			return err
		}
		if h.Flags != 0 {
			if err := c.discard(bodyLen); err != nil {
				return err
			}
			c.violation("request with flags set", "op", h.Op, "id", h.ID, "flags", h.Flags)
			c.respondError(h.Op, h.ID, &wire.Error{Name: "InvalidArgumentException",
				Message: fmt.Sprintf("request flags are %#02x; requests carry no flags (0)", h.Flags)}, h.Size, 1)
			continue
		}
		switch h.Op {
		case wire.OpPutRecord:
			err = c.readPuts(h)
		case wire.OpCredit, wire.OpCancel:
			err = c.readSubControl(h)
		default:
			// The declared length only picks the pool (a large body reuses
			// a large buffer); the buffer grows as the bytes arrive.
			bb := wire.GetBuf(bodyLen)
			if bb.B, err = c.readBody(bb.B[:0], bodyLen); err != nil {
				wire.PutBuf(bb)
				return err
			}
			c.dispatch(h, bb)
		}
		if err != nil {
			return err
		}
		if c.revoked {
			return errRevoked
		}
	}
}

// bodyChunk is how much of a frame's body is read at a time: memory
// follows the bytes that arrived, never the length a header declares.
const bodyChunk = 64 << 10

// reserve charges a frame of size bytes and one request to the
// connection's budget and to the server's, waiting for the server's while
// it is spent: the reader stops reading, which pushes back on the client
// through TCP. The frame's bytes are reserved whole before its body is
// read (as Kafka's memory pool does), so that readers never hold parts of
// frames while waiting for each other. A wait ends when the connection
// drains.
func (c *conn) reserve(size int) error {
	b := c.srv.opts.Budget
	if !b.TryAcquire(int64(size)) {
		if err := b.Acquire(c.readCtx, int64(size), 0); err != nil {
			return errShuttingDown
		}
	}
	c.mu.Lock()
	c.inBytes += size
	c.inReqs++
	c.mu.Unlock()
	return nil
}

// readBody appends the next n bytes of the stream to b, growing it by at
// most bodyChunk ahead of what arrived.
func (c *conn) readBody(b []byte, n int) ([]byte, error) {
	base := len(b)
	for n > 0 {
		k := min(n, bodyChunk)
		if buffered := c.br.Buffered(); buffered > 0 {
			k = min(n, buffered)
		}
		start := len(b)
		b = slices.Grow(b, k)[:start+k]
		if err := c.readFull(b[start:], false); err != nil {
			return b[:start], err
		}
		n -= k
		if hook := c.srv.testHookBodyRead; hook != nil {
			hook(len(b)-base, len(b)-base+n)
		}
	}
	return b, nil
}

// setFrameDeadline gives the rest of the current frame FrameTimeout to
// arrive, unless the connection is draining.
func (c *conn) setFrameDeadline() error {
	c.dlmu.Lock()
	defer c.dlmu.Unlock()
	if c.draining {
		return errShuttingDown
	}
	if ft := c.srv.opts.FrameTimeout; ft > 0 {
		c.deadlineSet = time.Time{} // the idle deadline must be set again at the next boundary
		c.nc.SetReadDeadline(time.Now().Add(ft))
	}
	return nil
}

// readFull reads len(b) bytes. At a frame boundary (boundary, nothing read
// yet), an expired idle deadline is extended while the connection has work
// in flight and ends the connection with errIdle otherwise; a deadline in
// the middle of a frame ends it as a stalled client. A drain ends it with
// errShuttingDown.
func (c *conn) readFull(b []byte, boundary bool) error {
	got := 0
	for got < len(b) {
		n, err := c.br.Read(b[got:])
		got += n
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if c.isDraining() {
				return errShuttingDown
			}
			if boundary && got == 0 {
				if c.busy() {
					if err := c.setReadDeadline(); err != nil {
						return err
					}
					continue
				}
				return errIdle
			}
			return fmt.Errorf("%w: the client sent %d of %d bytes and then nothing until the deadline (frame timeout %v)", io.ErrUnexpectedEOF, got, len(b), c.srv.opts.FrameTimeout)
		}
		if err == io.EOF && (got > 0 || !boundary) {
			return fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, got, len(b))
		}
		return err
	}
	return nil
}

// discard skips n bytes of the stream.
func (c *conn) discard(n int) error {
	for n > 0 {
		k := min(n, len(c.small))
		if err := c.readFull(c.small[:k], false); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// busy reports whether the connection has requests or subscriptions in
// flight (and so is not idle).
func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inReqs > 0 || len(c.subs) > 0
}

// waitBudget blocks while the connection's in-flight budget is spent. It
// returns false when the connection is stopping or draining.
func (c *conn) waitBudget() bool {
	o := &c.srv.opts
	c.mu.Lock()
	defer c.mu.Unlock()
	for (c.inBytes >= o.MaxInFlightBytes || c.inReqs >= o.MaxInFlightRequests) && !c.stopping {
		if c.isDraining() {
			return false
		}
		c.cond.Wait()
	}
	return !c.stopping
}

// charge adds bytes and requests to the connection's in-flight budget and
// the bytes to the server's.
func (c *conn) charge(bytes, reqs int) {
	c.srv.opts.Budget.Charge(int64(bytes))
	c.mu.Lock()
	c.inBytes += bytes
	c.inReqs += reqs
	c.mu.Unlock()
}

// release returns bytes and requests to both budgets and wakes the reader.
func (c *conn) release(bytes, reqs int) {
	if bytes == 0 && reqs == 0 {
		return
	}
	c.srv.opts.Budget.Release(int64(bytes))
	c.mu.Lock()
	c.inBytes -= bytes
	c.inReqs -= reqs
	c.cond.Signal()
	c.mu.Unlock()
}

// chargeLocal adds bytes to the connection's budget only: bytes that cost
// the process no memory of its own (record frames written from a mapping).
func (c *conn) chargeLocal(bytes int) {
	c.mu.Lock()
	c.inBytes += bytes
	c.inMapped += bytes
	c.mu.Unlock()
}

// releaseLocal returns bytes charged by chargeLocal.
func (c *conn) releaseLocal(bytes int) {
	if bytes == 0 {
		return
	}
	c.mu.Lock()
	c.inBytes -= bytes
	c.inMapped -= bytes
	c.cond.Signal()
	c.mu.Unlock()
}

// releaseRest returns to the server's budget what the connection still
// holds once it has ended: a frame cut off in the middle.
func (c *conn) releaseRest() {
	c.mu.Lock()
	rest := c.inBytes - c.inMapped
	c.inBytes, c.inMapped = 0, 0
	c.mu.Unlock()
	c.srv.opts.Budget.Release(int64(rest))
}

// interner returns the same string for the same bytes seen twice in a row:
// the stream name of back-to-back requests costs one allocation, not one
// per request. It is used by the reader goroutine only.
type interner struct{ last string }

func (in *interner) get(b []byte) string {
	if string(b) != in.last {
		in.last = string(b)
	}
	return in.last
}
