package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/internal/ratelog"
)

// peer is the sending side of the link to one node: its queue and its
// sender goroutine.
type peer struct {
	t    *Transport
	id   uint64
	addr atomic.Pointer[string] // host:port; SetPeer replaces it

	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: something was queued

	mu sync.Mutex // guards q
	q  *batch     // encoded envelopes waiting for the sender

	// cur is the open connection (nil when there is none), set by the
	// sender; stop closes it to end a write in progress.
	cur atomic.Pointer[outConn]

	// Owned by the sender goroutine.
	spare    *batch // the batch that takes p.q's place when the sender takes it
	conn     *outConn
	backoff  time.Duration   // the wait after the next failed dial
	nextDial time.Time       // no dial before this, after a failed one
	lastAddr string          // the address of the last dial
	dialed   bool            // a connection was open at least once
	failLog  ratelog.Limiter // at most a line every failLogEvery

	// Counters, for Stats.
	sent, sentBytes, frames atomic.Uint64
	dropped                 atomic.Uint64
	reconnects, dialFails   atomic.Uint64
}

// outConn is a connection this node dialed to a peer.
type outConn struct {
	net.Conn
	addr     string // the address dialed
	maxFrame int    // the largest frame the peer accepts
	dead     atomic.Bool
}

func (t *Transport) newPeer(id uint64, addr string) *peer {
	p := &peer{t: t, id: id, wake: make(chan struct{}, 1), q: new(batch), spare: new(batch)}
	p.failLog.Every = failLogEvery
	p.addr.Store(&addr)
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

// stop ends p's sender and closes its connection.
func (p *peer) stop() {
	p.cancel()
	if c := p.cur.Load(); c != nil {
		c.Close()
	}
}

// run is p's sender. It waits until envelopes are queued, takes the whole
// queue (frames already encoded by Send) and writes it in one write on its
// connection, dialing first if it has none; envelopes queued meanwhile
// wait for the next write, which coalesces them. A message that cannot be
// written is dropped: the Receiver hears the node is unreachable and a
// MsgSnap's snapshot failed; a written MsgSnap is reported delivered once
// its write returned. It ends when the peer is stopped.
func (p *peer) run() {
	defer p.t.wg.Done()
	defer p.closeConn()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		b := p.q
		p.q = p.spare
		p.mu.Unlock()
		if b.msgs > 0 {
			p.flush(b)
		}
		b.reset()
		p.spare = b
	}
}

// flush writes b to the peer, or drops it and reports why not.
func (p *peer) flush(b *batch) {
	t := p.t
	if f := t.fault.Load(); f != nil && f.blocked[p.id] {
		p.fail(b, nil)
		return
	}
	b.seal()
	c, err := p.connect()
	if err != nil {
		p.fail(b, err)
		return
	}
	for i, start := range b.starts {
		end := len(b.buf)
		if i+1 < len(b.starts) {
			end = b.starts[i+1]
		}
		if end-start > c.maxFrame {
			p.fail(b, fmt.Errorf("a frame of %d bytes exceeds the %d bytes node %d accepts; give every node the same MaxFrameSize", end-start, c.maxFrame, p.id))
			return
		}
	}
	if err := c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
		p.closeConn()
		p.fail(b, err)
		return
	}
	if _, err := c.Write(b.buf); err != nil {
		p.closeConn()
		p.fail(b, fmt.Errorf("write to node %d at %s: %w", p.id, c.addr, err))
		return
	}
	p.sent.Add(uint64(b.msgs))
	p.sentBytes.Add(uint64(len(b.buf)))
	p.frames.Add(uint64(len(b.starts)))
	for _, g := range b.snaps {
		t.recv.SnapshotStatus(g, p.id, true)
	}
}

// fail drops b's messages and reports them; err, if not nil, is logged
// (at most once every failLogEvery per peer).
func (p *peer) fail(b *batch, err error) {
	p.dropped.Add(uint64(b.msgs))
	if p.ctx.Err() != nil {
		return // removed or closed: nobody waits for these
	}
	switch {
	case err == nil || errors.Is(err, errBackoff):
	case refusal(err):
		p.failLog.Log(p.t.log, slog.LevelError, "peer refused the connection; its messages are dropped", "peer", p.id, "addr", *p.addr.Load(), "err", err)
	default:
		p.failLog.Log(p.t.log, slog.LevelWarn, "cannot send to peer; its messages are dropped until it answers", "peer", p.id, "addr", *p.addr.Load(), "err", err)
	}
	for _, g := range b.snaps {
		p.t.recv.SnapshotStatus(g, p.id, false)
	}
	p.t.recv.Unreachable(p.id)
}

// failLogEvery is the least time between two log lines about one peer
// that cannot be reached: a node down for an hour is worth a few hundred
// lines, not one a dial.
const failLogEvery = 10 * time.Second

// refusal reports whether err is a peer refusing this node at the
// handshake for a reason a dial again will not change (another cluster,
// another node, another version): a configuration error, logged as one.
func refusal(err error) bool {
	return errors.Is(err, ErrClusterMismatch) || errors.Is(err, ErrWrongNode) || errors.Is(err, ErrVersion)
}

// errBackoff is the dial skipped while waiting after a failed one.
var errBackoff = errors.New("transport: waiting to dial again")

// connect returns the open connection to the peer, dialing a new one when
// there is none, the last one broke, or the peer's address changed.
func (p *peer) connect() (*outConn, error) {
	addr := *p.addr.Load()
	if c := p.conn; c != nil {
		if !c.dead.Load() && c.addr == addr {
			return c, nil
		}
		p.closeConn()
	}
	if now := time.Now(); now.Before(p.nextDial) && addr == p.lastAddr {
		return nil, errBackoff
	}
	p.lastAddr = addr
	c, err := p.dial(addr)
	if err != nil {
		p.dialFails.Add(1)
		if p.backoff == 0 {
			p.backoff = p.t.cfg.BackoffMin
		}
		p.nextDial = time.Now().Add(p.backoff)
		p.backoff = min(2*p.backoff, p.t.cfg.BackoffMax)
		return nil, err
	}
	p.backoff, p.nextDial = 0, time.Time{}
	if p.dialed {
		p.reconnects.Add(1)
	}
	p.dialed = true
	p.conn = c
	p.cur.Store(c)
	if p.ctx.Err() != nil { // stopped while dialing: stop may have missed c
		p.closeConn()
		return nil, p.ctx.Err()
	}
	p.t.wg.Add(1)
	go p.watch(c)
	p.t.log.Info("connected to peer", "peer", p.id, "addr", addr)
	return c, nil
}

// closeConn closes the sender's connection, if any.
func (p *peer) closeConn() {
	if p.conn != nil {
		p.conn.dead.Store(true)
		p.conn.Close()
		p.conn = nil
		p.cur.Store(nil)
	}
}

// watch reads c until it ends, so that a peer that closed the connection
// (it restarted, or refused a frame) is noticed before the next write
// rather than by it: the sender dials again instead of writing into a
// dead connection. The acceptor sends nothing after its hello, so any byte
// read is a protocol error.
func (p *peer) watch(c *outConn) {
	defer p.t.wg.Done()
	var b [1]byte
	_, err := c.Read(b[:])
	if !c.dead.Load() {
		if err == nil {
			p.t.log.Error("peer sent bytes after its hello; closing the connection", "peer", p.id, "addr", c.addr)
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			p.t.log.Info("connection to peer ended", "peer", p.id, "addr", c.addr, "err", err)
		}
	}
	c.dead.Store(true)
	c.Close()
}

// dial opens a connection to the peer at addr and makes the handshake.
func (p *peer) dial(addr string) (*outConn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.t.cfg.DialTimeout)
	defer cancel()
	nc, a, err := p.t.handshake(ctx, p.id, addr, false)
	if err != nil {
		return nil, err
	}
	return &outConn{Conn: nc, addr: addr, maxFrame: min(int(a.MaxFrame), p.t.cfg.MaxFrameSize)}, nil
}

// handshake dials node at addr, secures the connection with TLS when the
// transport has it, and exchanges hellos (a stream connection's when
// stream is set), all within ctx; it returns the connection, with no
// deadline left on it, and the node's hello.
func (t *Transport) handshake(ctx context.Context, node uint64, addr string, stream bool) (net.Conn, hello, error) {
	what := ""
	if stream {
		what = " for a stream"
	}
	nc, err := t.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, hello{}, fmt.Errorf("dial node %d at %s%s: %w", node, addr, what, err)
	}
	ok := false
	defer func() {
		if !ok {
			nc.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		if err := nc.SetDeadline(dl); err != nil {
			return nil, hello{}, err
		}
	}
	if t.cfg.TLS != nil {
		cfg := t.cfg.TLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, hello{}, fmt.Errorf("TLS handshake with node %d at %s%s: %w", node, addr, what, err)
		}
		nc = tc
	}
	h := hello{Version: version, Cluster: t.cfg.ClusterID, From: t.cfg.NodeID, To: node, Stream: stream}
	hb := h.marshal()
	if _, err := nc.Write(hb[:]); err != nil {
		return nil, hello{}, fmt.Errorf("send hello to node %d at %s%s: %w", node, addr, what, err)
	}
	if _, err := io.ReadFull(nc, hb[:]); err != nil {
		return nil, hello{}, fmt.Errorf("%w: read node %d's answer at %s%s: %w", ErrHandshake, node, addr, what, err)
	}
	a, err := parseHello(hb[:])
	if err == nil {
		err = check(a, t.cfg.ClusterID, t.cfg.NodeID, node)
	}
	if err == nil && a.Stream != stream {
		err = fmt.Errorf("%w: node %d answered with the hello of the other kind of connection", ErrHandshake, node)
	}
	if err != nil {
		return nil, hello{}, fmt.Errorf("handshake with node %d at %s%s: %w", node, addr, what, err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, hello{}, err
	}
	ok = true
	return nc, a, nil
}
