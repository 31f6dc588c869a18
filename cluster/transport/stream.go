package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"
)

// Stream connections carry bulk transfers between nodes (a shard's
// segments shipped to a replica that fell behind) beside the Raft traffic,
// on a connection of their own, so that a transfer of gigabytes never
// queues behind or in front of the heartbeats and appends of other groups.
// A stream connection is dialed to the same address as the Raft
// connection, makes the same handshake (TLS, then the hellos) with the
// magic "SLRS" in place of "SLRT", and then belongs to its two ends:
// the dialer (DialStream) and the acceptor's Config.Streams. Either end
// may write; what they say is theirs to define and check. An acceptor
// without Config.Streams refuses a stream hello with status 5.

// DialStream opens a stream connection to node, with TLS when configured,
// and returns it after the handshake. The caller owns the connection and
// must close it; a deadline of ctx bounds the dial and handshake only.
// Node must have an address (Config.Peers, SetPeer); a node cut off by
// Block is refused as a partition would refuse it.
func (t *Transport) DialStream(ctx context.Context, node uint64) (net.Conn, error) {
	if t.closing.Load() {
		return nil, ErrClosed
	}
	p := (*t.peers.Load())[node]
	if p == nil {
		return nil, fmt.Errorf("transport: no address for node %d; give it one with SetPeer (--peers)", node)
	}
	if f := t.fault.Load(); f != nil && f.blocked[node] {
		return nil, fmt.Errorf("transport: node %d is blocked (the fault hook)", node)
	}
	addr := *p.addr.Load()
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // Close cuts a dial short
	defer stop()
	nc, err := t.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial node %d at %s for a stream: %w", node, addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			nc.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		if err := nc.SetDeadline(dl); err != nil {
			return nil, err
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
			return nil, fmt.Errorf("TLS handshake with node %d at %s for a stream: %w", node, addr, err)
		}
		nc = tc
	}
	h := hello{Version: version, Cluster: t.cfg.ClusterID, From: t.cfg.NodeID, To: node, Stream: true}
	hb := h.marshal()
	if _, err := nc.Write(hb[:]); err != nil {
		return nil, fmt.Errorf("send a stream hello to node %d at %s: %w", node, addr, err)
	}
	if _, err := io.ReadFull(nc, hb[:]); err != nil {
		return nil, fmt.Errorf("%w: read node %d's answer to a stream hello at %s: %w", ErrHandshake, node, addr, err)
	}
	a, err := parseHello(hb[:])
	if err == nil {
		err = check(a, t.cfg.ClusterID, t.cfg.NodeID, node)
	}
	if err == nil && !a.Stream {
		err = fmt.Errorf("%w: node %d answered a stream hello with a Raft one", ErrHandshake, node)
	}
	if err != nil {
		return nil, fmt.Errorf("stream handshake with node %d at %s: %w", node, addr, err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	ok = true
	return nc, nil
}
