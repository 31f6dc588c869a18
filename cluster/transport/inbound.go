package transport

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// inNode is what arrived from one node, over all its connections.
type inNode struct {
	msgs, bytes, frames atomic.Uint64
	discarded           atomic.Uint64 // frames dropped because the node is blocked

	// cur is the node's newest connection, guarded by Transport.mu.
	cur *inConn
}

// inConn is an accepted connection being read.
type inConn struct {
	nc   net.Conn
	seq  uint64        // the order it was accepted in
	done chan struct{} // closed when its reader has stopped delivering
}

// takeOver makes c the current connection of node id and returns the
// node's counters and the connection c replaces (nil if none). A c
// accepted before the current one (their handshakes raced) is stale: it
// replaces nothing, and stale is true.
func (t *Transport) takeOver(id uint64, c *inConn) (n *inNode, prev *inConn, stale bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n = t.nodes[id]
	if n == nil {
		n = new(inNode)
		t.nodes[id] = n
	}
	if n.cur != nil && n.cur.seq > c.seq {
		return n, nil, true
	}
	prev = n.cur
	n.cur = c
	return n, prev, false
}

// acceptLoop accepts connections from peers until Close, each served by
// its own goroutine. A failed Accept other than the listener closing is
// logged and retried after a pause that doubles up to a second (the
// process may be out of file descriptors).
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var pause time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t.log.Warn("accepting a peer connection failed; retrying", "err", err, "pause", pause)
			timer := time.NewTimer(pause)
			select {
			case <-t.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		pause = 0
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			nc.Close()
			return
		}
		t.inbound[nc] = struct{}{}
		t.accepted++
		seq := t.accepted
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveConn(nc, seq)
	}
}

// serveConn makes the acceptor's half of the handshake on nc and then
// reads frames from it, delivering each to the Receiver, until the
// connection ends, breaks or carries a bad frame.
func (t *Transport) serveConn(nc net.Conn, seq uint64) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.inbound, nc)
		t.mu.Unlock()
		nc.Close()
	}()
	remote := nc.RemoteAddr().String()
	conn, from, stream, err := t.accept(nc)
	if err != nil {
		t.refused.Add(1)
		// A misconfigured peer dials again and again: the lines are
		// rate-limited, with the count of those left out.
		if refusal(err) {
			t.refuseLog.Log(t.log, slog.LevelError, "refused a peer connection", "remote", remote, "err", err)
		} else if t.ctx.Err() == nil {
			t.refuseLog.Log(t.log, slog.LevelWarn, "refused a peer connection", "remote", remote, "err", err)
		}
		return
	}
	log := t.log.With("peer", from, "remote", remote)
	if stream {
		// A stream connection is its handler's alone: it takes no part
		// in the ordering of the node's Raft connections.
		if f := t.fault.Load(); f != nil && f.blocked[from] {
			log.Debug("closing a stream connection from a blocked peer")
			return
		}
		log.Debug("peer opened a stream connection")
		t.streams.Add(1)
		t.cfg.Streams(from, conn)
		return
	}
	log.Debug("peer connected")
	// A node writes on one connection at a time, so a new one means it
	// gave up the last (which may not have ended here yet: a half-open
	// connection, or frames still buffered). The last one is closed, and
	// this one delivers nothing until its reader has stopped, so that what
	// the node sent arrives in the order it was sent.
	me := &inConn{nc: nc, seq: seq, done: make(chan struct{})}
	defer close(me.done)
	cnt, prev, stale := t.takeOver(from, me)
	if stale {
		log.Info("closing a peer connection accepted before the peer's newer one")
		return
	}
	defer func() {
		t.mu.Lock()
		if cnt.cur == me {
			cnt.cur = nil
		}
		t.mu.Unlock()
	}()
	if prev != nil {
		log.Info("peer connected again; closing its previous connection", "previous", prev.nc.RemoteAddr().String())
		prev.nc.Close()
		select {
		case <-prev.done:
		case <-t.ctx.Done():
			return
		}
	}
	fr := frameReader{r: bufio.NewReaderSize(conn, readChunk), max: t.cfg.MaxFrameSize}
	for {
		body, crc, err := fr.next()
		if err != nil {
			var fe *FrameError
			switch {
			case errors.Is(err, io.EOF) || t.ctx.Err() != nil:
				log.Debug("peer connection ended")
			case errors.As(err, &fe) && fe.Truncated:
				t.truncated.Add(1)
				log.Warn("peer connection ended inside a frame; the partial frame is dropped", "err", err)
			case fe != nil:
				t.badFrames.Add(1)
				log.Error("closing a peer connection after a bad frame", "err", err)
			default:
				log.Warn("peer connection broke", "err", err)
			}
			return
		}
		cnt.frames.Add(1)
		cnt.bytes.Add(uint64(frameHeaderSize + len(body)))
		if f := t.fault.Load(); f != nil && f.blocked[from] {
			cnt.discarded.Add(1)
			continue
		}
		batch, err := decodeFrame(body, crc, from, t.cfg.NodeID)
		fr.release()
		if err != nil {
			t.badFrames.Add(1)
			log.Error("closing a peer connection after a bad frame", "err", err)
			return
		}
		cnt.msgs.Add(uint64(len(batch)))
		t.recv.Receive(from, batch)
	}
}

// accept makes the acceptor's half of the handshake within DialTimeout:
// TLS if configured, then the dialer's hello and the answer. It returns
// the connection to read frames from, the dialer's node id, and whether
// the dialer opened a stream connection.
func (t *Transport) accept(nc net.Conn) (net.Conn, uint64, bool, error) {
	if err := nc.SetDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil {
		return nil, 0, false, err
	}
	if t.serverTLS != nil {
		tc := tls.Server(nc, t.serverTLS)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			return nil, 0, false, fmt.Errorf("%w: TLS: %w", ErrHandshake, err)
		}
		nc = tc
	}
	var b [helloSize]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		return nil, 0, false, fmt.Errorf("%w: read the peer's hello: %w", ErrHandshake, err)
	}
	h, err := parseHello(b[:])
	if err != nil {
		return nil, 0, false, err // not the protocol: no answer
	}
	status, verdict := judge(h, t.cfg.ClusterID, t.cfg.NodeID)
	if verdict == nil && h.Stream && t.cfg.Streams == nil {
		status, verdict = statusNoStream, fmt.Errorf("%w: node %d opened a stream connection, and this node serves none", ErrNoStreams, h.From)
	}
	a := hello{Version: version, Status: status, Cluster: t.cfg.ClusterID, From: t.cfg.NodeID, To: h.From, MaxFrame: uint32(t.cfg.MaxFrameSize), Stream: h.Stream}
	b = a.marshal()
	if _, err := nc.Write(b[:]); err != nil && verdict == nil {
		return nil, 0, false, fmt.Errorf("%w: answer the peer's hello: %w", ErrHandshake, err)
	}
	if verdict != nil {
		return nil, 0, false, verdict
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, 0, false, err
	}
	return nc, h.From, h.Stream, nil
}
