package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/ratelog"
)

// Transport is the TCP transport between the nodes of a cluster. Build it
// with New, start it with Start, and stop it with Close. Send, SetPeer,
// RemovePeer, SetFilter, Block and Stats may be called from any goroutine.
type Transport struct {
	cfg       Config
	log       *slog.Logger
	recv      cluster.Receiver
	ln        net.Listener
	serverTLS *tls.Config // nil without TLS

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	// peers maps node ids to their senders. It is replaced whole, under
	// mu, and read with one atomic load.
	peers atomic.Pointer[map[uint64]*peer]
	// fault is the fault hook (fault.go); nil when unset.
	fault atomic.Pointer[faults]
	// closing is set first thing by Close: Send drops everything after it.
	closing atomic.Bool

	rep reporter

	mu       sync.Mutex            // guards started, closed, inbound, nodes (and each inNode's cur), writes to peers and fault
	started  bool                  // Start was called
	closed   bool                  // Close was called
	inbound  map[net.Conn]struct{} // accepted connections open
	accepted uint64                // connections accepted so far, numbering each
	nodes    map[uint64]*inNode

	wg sync.WaitGroup // every goroutine of the transport

	refused        atomic.Uint64 // accepted connections refused at the handshake
	badFrames      atomic.Uint64 // accepted connections closed for a bad frame
	truncated      atomic.Uint64 // accepted connections that ended inside a frame
	unknownDropped atomic.Uint64 // messages for nodes with no address
	streams        atomic.Uint64 // stream connections accepted

	sendLog    ratelog.Limiter // messages that cannot be sent
	unknownLog ratelog.Limiter // messages for nodes with no address
	refuseLog  ratelog.Limiter // connections refused at the handshake
}

var _ cluster.Transport = (*Transport)(nil)

// New makes a transport from cfg and binds its listener (Listen, when no
// Listener is given). It starts nothing: Start does.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "raft-transport", "node", cfg.NodeID),
		recv:    cfg.Receiver,
		inbound: make(map[net.Conn]struct{}),
		nodes:   make(map[uint64]*inNode),
	}
	t.rep.wake = make(chan struct{}, 1)
	if cfg.TLS != nil {
		t.serverTLS = cfg.TLS.Clone()
		if t.serverTLS.ClientAuth == tls.NoClientCert {
			t.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if t.serverTLS.ClientCAs == nil {
			t.serverTLS.ClientCAs = t.serverTLS.RootCAs
		}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	peers := make(map[uint64]*peer, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		if id != cfg.NodeID {
			peers[id] = t.newPeer(id, addr)
		}
	}
	t.peers.Store(&peers)
	t.ln = cfg.Listener
	if t.ln == nil {
		if t.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			t.cancel()
			return nil, fmt.Errorf("transport: listen for peers on %s: %w", cfg.Listen, err)
		}
	}
	return t, nil
}

// Addr is the address peers connect to.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// Start accepts connections from peers and starts the senders.
func (t *Transport) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.started {
		return errors.New("transport: Start called twice")
	}
	t.started = true
	t.wg.Add(2)
	go t.acceptLoop()
	go t.reportLoop()
	for _, p := range *t.peers.Load() {
		t.wg.Add(1)
		go p.run()
	}
	t.log.Info("raft transport listening", "addr", t.ln.Addr().String(), "cluster", t.cfg.ClusterID, "tls", t.serverTLS != nil)
	return nil
}

// Close stops every sender, closes every connection and the listener, and
// waits for the transport's goroutines: once it returns, the Receiver is
// not called again. Messages still queued are dropped. Close must not be
// called from a Receiver method, which it would wait for.
func (t *Transport) Close() error {
	t.closing.Store(true)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	conns := make([]net.Conn, 0, len(t.inbound))
	for c := range t.inbound {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	err := t.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	for _, c := range conns {
		c.Close()
	}
	for _, p := range *t.peers.Load() {
		p.stop()
	}
	t.wg.Wait()
	return err
}

// SetPeer sets the address of node id, adding the node if it is new. A
// changed address takes effect at the next write: the sender drops its
// connection and dials the new address. Setting this node's own id does
// nothing, so callers can pass every member of the cluster.
func (t *Transport) SetPeer(id uint64, addr string) error {
	if id == 0 {
		return fmt.Errorf("transport: node id 0 (address %q); node ids start at 1", addr)
	}
	if addr == "" {
		return fmt.Errorf("transport: no address for node %d; give host:port", id)
	}
	if id == t.cfg.NodeID {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	old := *t.peers.Load()
	if p, ok := old[id]; ok {
		if *p.addr.Load() != addr {
			p.addr.Store(&addr)
			t.log.Info("peer address changed", "peer", id, "addr", addr)
		}
		return nil
	}
	p := t.newPeer(id, addr)
	next := maps.Clone(old)
	next[id] = p
	t.peers.Store(&next)
	if t.started {
		t.wg.Add(1)
		go p.run()
	}
	t.log.Info("peer added", "peer", id, "addr", addr)
	return nil
}

// RemovePeer forgets node id: its sender stops, its connection closes and
// what was queued for it is dropped. Messages for it are then reported
// unreachable. Connections the node dialed to this one stay open.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	old := *t.peers.Load()
	p, ok := old[id]
	if !ok || t.closed {
		t.mu.Unlock()
		return
	}
	next := maps.Clone(old)
	delete(next, id)
	t.peers.Store(&next)
	t.mu.Unlock()
	p.stop()
	t.log.Info("peer removed", "peer", id)
}

// Send queues the envelopes for the nodes named in their Msg.To and
// returns without waiting for the network. Each message is encoded into
// its peer's queue during the call, so the batch's memory is the caller's
// again once Send returns. A message that cannot be queued (the queue is
// full, the node has no address, it is blocked, or it is larger than a
// frame) is dropped and its node reported unreachable, and a dropped
// MsgSnap is reported failed, from another goroutine. Send calls no
// Receiver method itself.
func (t *Transport) Send(batch []cluster.Envelope) {
	if t.closing.Load() {
		return
	}
	peers := *t.peers.Load()
	f := t.fault.Load()
	// Each destination's envelopes are queued under one lock: one pass
	// over the rest of the batch per destination, a few in a cluster.
	var seenArr [16]uint64
	seen := seenArr[:0]
next:
	for i := range batch {
		to := batch[i].Msg.GetTo()
		for _, s := range seen {
			if s == to {
				continue next
			}
		}
		seen = append(seen, to)
		if p := peers[to]; p != nil {
			p.enqueue(batch[i:], f)
		} else {
			t.dropUnknown(to, batch[i:])
		}
	}
}

// dropUnknown drops the envelopes of batch addressed to node to, which has
// no address, and reports them.
func (t *Transport) dropUnknown(to uint64, batch []cluster.Envelope) {
	n := 0
	for i := range batch {
		e := &batch[i]
		if e.Msg.GetTo() != to {
			continue
		}
		n++
		if e.Msg.GetType() == raftpb.MsgSnap {
			t.rep.snapshot(e.Group, to)
		}
	}
	t.unknownDropped.Add(uint64(n))
	t.rep.unreachable(to)
	t.unknownLog.Log(t.log, slog.LevelWarn, "dropping messages for a node with no address; give it one with SetPeer (--peers)", "peer", to, "messages", n)
}

// enqueue encodes the envelopes of batch addressed to p into p's queue and
// wakes p's sender.
func (p *peer) enqueue(batch []cluster.Envelope, f *faults) {
	t := p.t
	queued := false
	p.mu.Lock()
	q := p.q
	for i := range batch {
		e := &batch[i]
		if e.Msg.GetTo() != p.id {
			continue
		}
		if g, from := e.Group, e.Msg.GetFrom(); g == 0 || from != t.cfg.NodeID {
			// The peer would refuse the whole frame, and the good
			// messages in it with this one.
			t.sendLog.Log(t.log, slog.LevelError, "dropping a message that cannot be sent", "peer", p.id, "group", g,
				"err", fmt.Errorf("a %v of group %d from node %d: every message must be of a group (non-zero) and from this node (%d)", e.Msg.GetType(), g, from, t.cfg.NodeID))
			p.drop(e, false)
			continue
		}
		if f != nil {
			if f.blocked[p.id] {
				p.drop(e, true)
				continue
			}
			if f.filter != nil && !f.filter(p.id, e) {
				p.drop(e, false)
				continue
			}
		}
		size := proto.Size(&e.Msg)
		if q.msgs > 0 && (q.msgs >= t.cfg.QueueMessages || len(q.buf)+envelopeSize(e.Group, size) > t.cfg.QueueBytes) {
			p.drop(e, true)
			continue
		}
		if err := q.add(e.Group, &e.Msg, size, t.cfg.MaxFrameSize); err != nil {
			t.sendLog.Log(t.log, slog.LevelError, "dropping a message that cannot be sent", "peer", p.id, "group", e.Group, "err", err)
			p.drop(e, true)
			continue
		}
		if e.Msg.GetType() == raftpb.MsgSnap {
			q.snaps = append(q.snaps, e.Group)
		}
		queued = true
	}
	p.mu.Unlock()
	if queued {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// drop counts a message for p that is not sent and has it reported: a
// MsgSnap as a failed snapshot, and p as unreachable if unreachable.
func (p *peer) drop(e *cluster.Envelope, unreachable bool) {
	p.dropped.Add(1)
	if e.Msg.GetType() == raftpb.MsgSnap {
		p.t.rep.snapshot(e.Group, p.id)
	}
	if unreachable {
		p.t.rep.unreachable(p.id)
	}
}

// reporter hands the Receiver the failures found inside Send, from its own
// goroutine: Send may be called with the caller's locks held, and the
// Receiver's methods may take them.
type reporter struct {
	mu     sync.Mutex // guards nodes and snaps
	nodes  []uint64   // nodes to report unreachable, each once
	snaps  []snapFail
	wake   chan struct{} // cap 1: something to report
	nodes2 []uint64      // reportLoop's own, swapped with nodes
	snaps2 []snapFail
}

type snapFail struct{ group, node uint64 }

func (r *reporter) unreachable(node uint64) {
	r.mu.Lock()
	for _, n := range r.nodes {
		if n == node {
			r.mu.Unlock()
			return
		}
	}
	r.nodes = append(r.nodes, node)
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) snapshot(group, node uint64) {
	r.mu.Lock()
	r.snaps = append(r.snaps, snapFail{group, node})
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// reportLoop hands the reporter's failures to the Receiver until Close:
// failed snapshots first, then unreachable nodes, each batch in the order
// it was found.
func (t *Transport) reportLoop() {
	defer t.wg.Done()
	r := &t.rep
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		nodes, snaps := r.nodes, r.snaps
		r.nodes, r.snaps = r.nodes2[:0], r.snaps2[:0]
		r.mu.Unlock()
		for _, s := range snaps {
			t.recv.SnapshotStatus(s.group, s.node, false)
		}
		for _, n := range nodes {
			t.recv.Unreachable(n)
		}
		r.nodes2, r.snaps2 = nodes, snaps
	}
}
