package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// ClientOptions configures a Client. Zero fields take the documented
// defaults.
type ClientOptions struct {
	// MaxFrameSize is the largest frame the client accepts from the server,
	// announced in the handshake; default DefaultMaxFrameSize (16 MiB), at
	// least MinMaxFrameSize. The server sizes read results and events to
	// fit.
	MaxFrameSize int
	// ReadBufferSize is the connection's read buffer; default 64 KiB.
	ReadBufferSize int
	// HandshakeTimeout bounds the handshake (TLS's, the protocol's and
	// authentication) when ctx has no deadline; default 10 s.
	HandshakeTimeout time.Duration
	// Credentials, if set, are the access key the client authenticates
	// with when the server requires it (see auth.go), and the server must
	// then prove it knows the same secret. nil: a server that requires
	// authentication is refused at Dial with ErrAuthRequired. A server that
	// does not require it is not asked for a proof: the connection runs as
	// anonymous (use TLS to know whom you talk to).
	Credentials *Credentials
	// TLS, if set, makes Dial speak TLS (the server's --tls-cert): the
	// configuration's RootCAs verify the server (nil: the system's roots)
	// and its Certificates are presented for mutual TLS. ServerName
	// defaults to the host of the address dialled. Nil means plaintext.
	TLS *tls.Config
}

func (o *ClientOptions) setDefaults() {
	wire.DefaultPositive(&o.MaxFrameSize, wire.DefaultMaxFrameSize)
	o.MaxFrameSize = max(o.MaxFrameSize, wire.MinMaxFrameSize)
	wire.DefaultPositive(&o.ReadBufferSize, 64<<10)
	wire.DefaultPositive(&o.HandshakeTimeout, 10*time.Second)
}

// Client is one connection to a sluice server. It is safe for concurrent
// use: calls from many goroutines are pipelined on the connection (each
// waits only for its own response, and responses may come in any order).
// It does not reconnect; after the connection is lost every call fails
// with an error matching ErrConnectionLost.
type Client struct {
	nc        net.Conn
	addr      string // the address dialled, "" for NewClient
	br        *bufio.Reader
	opts      ClientOptions
	serverMax int // the largest frame the server accepts
	nextID    atomic.Uint64

	// mu guards pending, subs, err and writeErr.
	mu       sync.Mutex
	pending  map[uint64]*call
	subs     map[uint64]*Subscription
	err      error // set once the connection is lost or closed
	writeErr error // the write error that stopped the writer

	queue wire.SendQueue[*bytebufferpool.ByteBuffer] // request frames for the writer

	goAway     atomic.Pointer[wire.Error] // the server's GoAway, if it sent one
	readerDone chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
}

// call is one request waiting for its response.
type call struct {
	op    wire.Op
	done  chan struct{} // capacity 1: the response (or the connection's end) arrived
	flags uint8
	body  *bytebufferpool.ByteBuffer // the response body, owned by the caller after done
	err   error                      // the connection's error, if it ended first
	// putDone, if set, is a PutRecordAsync callback: finish runs it
	// instead of waking a caller.
	putDone func(api.SeqNum, error)
}

// finish completes a call with the response (flags, bb) or err: it wakes
// the waiting caller, who then owns bb, or runs the call's callback and
// recycles the call.
func (cl *call) finish(flags uint8, bb *bytebufferpool.ByteBuffer, err error) {
	if cb := cl.putDone; cb != nil {
		seq, err := putRecordOutcome(flags, bb, err)
		if bb != nil {
			wire.PutBuf(bb)
		}
		*cl = call{done: cl.done}
		calls.Put(cl)
		cb(seq, err)
		return
	}
	cl.flags, cl.body, cl.err = flags, bb, err
	cl.done <- struct{}{}
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// Dial connects to the server at addr (host:port) and performs the
// handshake, over TLS if opts.TLS is set.
func Dial(ctx context.Context, addr string, opts ClientOptions) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if opts.TLS != nil {
		cfg := opts.TLS
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("dial %s: %w", addr, err)
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		// The TLS handshake runs inside the first write, the hello's, and
		// so under the handshake's deadline.
		nc = tls.Client(nc, cfg)
	}
	c, err := NewClient(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c.addr = addr
	return c, nil
}

// NewClient performs the handshake on an established connection (a TLS
// connection, say) and returns a Client that owns it.
func NewClient(ctx context.Context, nc net.Conn, opts ClientOptions) (*Client, error) {
	opts.setDefaults()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(opts.HandshakeTimeout)
	}
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	hello := wire.Hello{Version: wire.Version, MaxFrame: uint32(opts.MaxFrameSize)}
	if opts.Credentials != nil {
		if err := opts.Credentials.check(); err != nil {
			return nil, err
		}
		hello.Features |= wire.FeatureAuth
	}
	hb := hello.Marshal()
	if _, err := nc.Write(hb[:]); err != nil {
		return nil, fmt.Errorf("%w: send hello: %w", wire.ErrHandshake, err)
	}
	br := bufio.NewReaderSize(nc, opts.ReadBufferSize)
	h, err := wire.ReadHello(br)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	switch h.Status {
	case wire.StatusOK:
	case wire.StatusVersion:
		return nil, fmt.Errorf("%w: the client speaks version %d; the server speaks version %d", wire.ErrVersion, wire.Version, h.Version)
	case wire.StatusBusy:
		return nil, &wire.Error{Code: wire.CodeOfName("LimitExceededException"), Name: "LimitExceededException",
			Message: "the server has as many connections as it allows; retry later or raise its connection limit"}
	case wire.StatusShutdown:
		return nil, fmt.Errorf("%w: the server is shutting down", wire.ErrConnectionLost)
	default:
		return nil, fmt.Errorf("%w: the server refused the hello with status %d", wire.ErrHandshake, h.Status)
	}
	if h.Version != wire.Version {
		return nil, fmt.Errorf("%w: the server answered with version %d; this client speaks %d", wire.ErrVersion, h.Version, wire.Version)
	}
	if h.MaxFrame < wire.MinMaxFrameSize {
		return nil, fmt.Errorf("%w: the server's maximum frame size %d is below the minimum %d", wire.ErrHandshake, h.MaxFrame, wire.MinMaxFrameSize)
	}
	var firstID uint64
	if h.Features&wire.FeatureAuth != 0 {
		if opts.Credentials == nil {
			return nil, fmt.Errorf("%w: give the client an access key (ClientOptions.Credentials; sluice --access-key and --secret-key)", wire.ErrAuthRequired)
		}
		if err := authenticate(nc, br, opts, hb, h.Marshal()); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		firstID = authRequestID
	}
	// Once ctx can no longer move the deadline, clear it for good.
	stopped = true
	if !stop() {
		return nil, fmt.Errorf("%w: %w", wire.ErrHandshake, context.Cause(ctx))
	}
	nc.SetDeadline(time.Time{})
	c := &Client{
		nc:         nc,
		br:         br,
		opts:       opts,
		serverMax:  int(h.MaxFrame),
		pending:    map[uint64]*call{},
		subs:       map[uint64]*Subscription{},
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.nextID.Store(firstID)
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// MaxRequestSize is the largest request frame the server accepts.
func (c *Client) MaxRequestSize() int { return c.serverMax }

// Close closes the connection. Calls in flight fail with an error matching
// ErrConnectionLost; later calls fail with ErrClosed.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.fail(wire.ErrClosed)
		c.nc.Close()
		<-c.readerDone
		<-c.writerDone
	})
	return nil
}

// connError is the error of calls in flight when the connection ended.
type connError struct{ cause error }

func (e *connError) Error() string { return "wire: connection lost: " + e.cause.Error() }
func (e *connError) Unwrap() error { return e.cause }
func (e *connError) Is(target error) bool {
	return target == wire.ErrConnectionLost
}

// fail ends the connection with err: every pending call and subscription
// fails, and later calls fail at once.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	subs := c.subs
	c.pending = map[uint64]*call{}
	c.subs = map[uint64]*Subscription{}
	c.mu.Unlock()
	cause := err
	if err == wire.ErrClosed {
		cause = errors.New("the client was closed")
	}
	callErr := &connError{cause: cause}
	for _, cl := range pending {
		cl.finish(0, nil, callErr)
	}
	for _, s := range subs {
		s.end(callErr)
	}
	c.queue.Close()
}

// lost reports whether the connection has ended (lost or closed).
func (c *Client) lost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// closedErr is the error of a call made after the connection ended.
func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == wire.ErrClosed {
		return wire.ErrClosed
	}
	return &connError{cause: c.err}
}

// readLoop is the connection's only reader. It reads each frame's header,
// then its body: into the waiting call's pooled buffer for a response, into
// a fresh buffer queued on the subscription for an event (the subscriber
// decodes and verifies it on its own goroutine). A response for a call that
// gave up is skipped. It never blocks on a slow caller or subscriber:
// subscriptions are bounded by their credit. It ends the connection on a
// read error or a frame that breaks the protocol.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	var hb [wire.HeaderSize]byte
	for {
		if _, err := io.ReadFull(c.br, hb[:]); err != nil {
			c.fail(c.lostCause(err))
			c.nc.Close()
			return
		}
		h, err := wire.ParseHeader(hb[:], c.opts.MaxFrameSize)
		if err != nil {
			c.fail(err)
			c.nc.Close()
			return
		}
		if err := c.deliver(h); err != nil {
			c.fail(err)
			c.nc.Close()
			return
		}
	}
}

// lostCause explains a read error, preferring the server's GoAway, then
// the write error that broke the connection.
func (c *Client) lostCause(err error) error {
	if ga := c.goAway.Load(); ga != nil {
		return ga
	}
	c.mu.Lock()
	werr := c.writeErr
	c.mu.Unlock()
	if werr != nil {
		return werr
	}
	if err == io.EOF {
		return errors.New("the server closed the connection")
	}
	return err
}

// deliver reads the body of the frame h and hands it to its receiver.
func (c *Client) deliver(h wire.Header) error {
	n := h.Size - wire.HeaderSize
	switch {
	case h.ID == 0:
		if h.Op != wire.OpGoAway {
			return fmt.Errorf("%w: the server sent %v with request id 0", wire.ErrMalformed, h.Op)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.br, body); err != nil {
			return err
		}
		var m wire.GoAway
		if err := wire.DecodeMessage(body, &m); err != nil {
			return err
		}
		c.goAway.Store(wire.NewError(m.Name, m.Message))
		return nil
	case h.Op == wire.OpEvent || h.Op == wire.OpSubscribe:
		s := c.subOf(h.ID)
		if s == nil {
			_, err := c.br.Discard(n)
			return err
		}
		bb, err := c.readBody(n)
		if err != nil {
			return err
		}
		s.deliver(h, bb)
		return nil
	case h.Op == wire.OpCredit || h.Op == wire.OpCancel:
		// The server refused a malformed Credit or Cancel: end that
		// subscription with the server's error.
		body := make([]byte, n)
		if _, err := io.ReadFull(c.br, body); err != nil {
			return err
		}
		if s := c.subOf(h.ID); s != nil {
			e, err := wire.DecodeErrorBody(body)
			if err != nil {
				return err
			}
			s.deliver(wire.Header{Op: wire.OpSubscribe, Flags: wire.FlagError, ID: h.ID}, &bytebufferpool.ByteBuffer{B: wire.AppendErrorBody(nil, e.Name, e.Message)})
		}
		return nil
	}
	c.mu.Lock()
	cl := c.pending[h.ID]
	delete(c.pending, h.ID)
	c.mu.Unlock()
	if cl == nil {
		_, err := c.br.Discard(n)
		return err
	}
	bb, err := c.readBody(n)
	if err != nil {
		cl.finish(0, nil, &connError{cause: err})
		return err
	}
	if h.Op != cl.op {
		wire.PutBuf(bb)
		err := fmt.Errorf("%w: the response to request %d is %v; the request was %v", wire.ErrMalformed, h.ID, h.Op, cl.op)
		cl.finish(0, nil, err)
		return err
	}
	cl.finish(h.Flags, bb, nil)
	return nil
}

// readBody reads a frame body of n bytes into a pooled buffer.
func (c *Client) readBody(n int) (*bytebufferpool.ByteBuffer, error) {
	bb := wire.GetBuf(n)
	bb.B = slices.Grow(bb.B[:0], n)[:n]
	if _, err := io.ReadFull(c.br, bb.B); err != nil {
		wire.PutBuf(bb)
		return nil, err
	}
	return bb, nil
}

func (c *Client) subOf(id uint64) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[id]
}

// writeLoop is the connection's only writer: it takes every request frame
// queued so far and writes them with one writev, then returns their
// buffers to the pool. Once the queue is closed it drops what is left and
// exits.
func (c *Client) writeLoop() {
	defer close(c.writerDone)
	var vec [][]byte
	fw := wire.NewFrameWriter(c.nc) // one writev, or record-sized writes over TLS
	for {
		// Callers woken by a burst of responses enqueue their next
		// requests one by one: Take lets them run first, so that one
		// write carries them all.
		batch, closed := c.queue.Take(smallRequestBatch)
		if closed {
			for _, bb := range batch {
				wire.PutBuf(bb)
			}
			return
		}
		vec = vec[:0]
		for _, bb := range batch {
			vec = append(vec, bb.B)
		}
		_, err := fw.Write(vec)
		clear(vec)
		for _, bb := range batch {
			wire.PutBuf(bb)
		}
		c.queue.Recycle(batch)
		if err != nil {
			// Stop writing, but let the reader collect what the server
			// sent before the connection broke (its responses, a GoAway);
			// it ends the connection, within a second at the latest.
			c.mu.Lock()
			c.writeErr = err
			c.mu.Unlock()
			c.queue.Close()
			c.nc.SetReadDeadline(time.Now().Add(time.Second))
		}
	}
}

func smallRequestBatch(q []*bytebufferpool.ByteBuffer) bool { return len(q) < wire.SmallBatch }

// send queues a request frame for the writer, which owns bb from here.
func (c *Client) send(bb *bytebufferpool.ByteBuffer) {
	if !c.queue.Push(bb) {
		wire.PutBuf(bb)
	}
}

// frame starts a request frame in a pooled buffer; roundTrip (or
// EndFrame) finishes it.
func (c *Client) frame() (*bytebufferpool.ByteBuffer, int) { return c.frameFor(0) }

// frameFor is frame for a body of about n bytes.
func (c *Client) frameFor(n int) (*bytebufferpool.ByteBuffer, int) {
	bb := wire.GetBuf(wire.HeaderSize + n)
	b := bb.B[:0]
	if n > 0 {
		b = slices.Grow(b, wire.HeaderSize+n)
	}
	var start int
	bb.B, start = wire.BeginFrame(b)
	return bb, start
}

// start sends the request frame in bb (started by frame) as call cl and
// returns its id. On failure it recycles bb and cl.
func (c *Client) start(op wire.Op, bb *bytebufferpool.ByteBuffer, start int, cl *call) (uint64, error) {
	if size := len(bb.B) - start; size > c.serverMax {
		wire.PutBuf(bb)
		*cl = call{done: cl.done}
		calls.Put(cl)
		return 0, fmt.Errorf("%w: the %v request is %d bytes; the server accepts at most %d", wire.ErrFrameTooLarge, op, size, c.serverMax)
	}
	id := c.nextID.Add(1)
	wire.EndFrame(bb.B, start, op, 0, id, 0)
	cl.op = op
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		*cl = call{done: cl.done}
		calls.Put(cl)
		wire.PutBuf(bb)
		return 0, c.closedErr()
	}
	c.pending[id] = cl
	c.mu.Unlock()
	c.send(bb)
	return id, nil
}

// roundTrip sends the request frame in bb (started by frame) and waits for
// its response. On success the caller owns the returned call and must
// return it with putCall. A server error response is returned as *Error.
func (c *Client) roundTrip(ctx context.Context, op wire.Op, bb *bytebufferpool.ByteBuffer, start int) (*call, error) {
	cl := calls.Get().(*call)
	id, err := c.start(op, bb, start, cl)
	if err != nil {
		return nil, err
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if waiting {
			calls.Put(cl)
			return nil, ctx.Err()
		}
		<-cl.done // the reader took it; wait for it to finish
		putCall(cl)
		return nil, ctx.Err()
	}
	if cl.err != nil {
		err := cl.err
		putCall(cl)
		return nil, err
	}
	if cl.flags&wire.FlagError != 0 {
		e, err := wire.DecodeErrorBody(cl.body.B)
		putCall(cl)
		if err != nil {
			return nil, err
		}
		return nil, e
	}
	return cl, nil
}

// putCall returns a call and its body to their pools.
func putCall(cl *call) {
	if cl.body != nil {
		wire.PutBuf(cl.body)
	}
	*cl = call{done: cl.done}
	calls.Put(cl)
}

// do sends m as an op request and decodes the response into resp (if not
// nil; otherwise it expects an empty body).
func (c *Client) do(ctx context.Context, op wire.Op, m wire.Message, resp wire.Message) error {
	bb, start := c.frame()
	bb.B = m.AppendTo(bb.B)
	cl, err := c.roundTrip(ctx, op, bb, start)
	if err != nil {
		return err
	}
	defer putCall(cl)
	if resp == nil {
		resp = &wire.ReqEmpty{}
	}
	if err := wire.DecodeMessage(cl.body.B, resp); err != nil {
		return fmt.Errorf("decode %v response: %w", op, err)
	}
	return nil
}
