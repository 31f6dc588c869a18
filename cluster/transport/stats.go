package transport

import "slices"

// Stats is a snapshot of a transport's counters, for /metrics. Counters
// only grow, from the transport's start.
type Stats struct {
	// Node is this node's id.
	Node uint64
	// Peers has one entry per node this node has an address for or has
	// heard from, in order of node id.
	Peers []PeerStats
	// Inbound is the number of accepted connections open.
	Inbound int
	// Refused counts accepted connections refused at the handshake: a
	// peer of another cluster, one that dialed the wrong node or speaks
	// another version, a TLS failure, bytes that are not the protocol.
	Refused uint64
	// BadFrames counts accepted connections closed for a bad frame.
	BadFrames uint64
	// Truncated counts accepted connections that ended inside a frame:
	// the peer stopped, or was cut off, in the middle of a write.
	Truncated uint64
	// UnknownDropped counts messages dropped because their node has no
	// address.
	UnknownDropped uint64
	// Streams counts stream connections accepted and handed to
	// Config.Streams.
	Streams uint64
}

// PeerStats counts the traffic with one node.
type PeerStats struct {
	Node uint64
	// Addr is the node's address, empty for a node this node only hears
	// from.
	Addr string
	// Connected says whether a connection to the node is open.
	Connected bool

	// MessagesSent, BytesSent and FramesSent count what was written to
	// the node: messages, bytes of frames (headers included), and frames.
	// Fewer frames than messages is coalescing at work.
	MessagesSent, BytesSent, FramesSent uint64
	// Dropped counts messages for the node that were not written: the
	// queue was full, a dial or write failed, the node was blocked or
	// filtered, or the message was larger than a frame.
	Dropped uint64
	// Reconnects counts connections opened after the first; DialFailures
	// the dials (and handshakes) that failed.
	Reconnects, DialFailures uint64

	// MessagesReceived, BytesReceived and FramesReceived count what
	// arrived from the node over all its connections (frames discarded
	// while it was blocked count in bytes and frames only).
	MessagesReceived, BytesReceived, FramesReceived uint64
	// Discarded counts frames from the node dropped while it was blocked.
	Discarded uint64
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	s := Stats{
		Node:           t.cfg.NodeID,
		Refused:        t.refused.Load(),
		Streams:        t.streams.Load(),
		BadFrames:      t.badFrames.Load(),
		Truncated:      t.truncated.Load(),
		UnknownDropped: t.unknownDropped.Load(),
	}
	byNode := map[uint64]*PeerStats{}
	get := func(id uint64) *PeerStats {
		ps := byNode[id]
		if ps == nil {
			ps = &PeerStats{Node: id}
			byNode[id] = ps
		}
		return ps
	}
	for id, p := range *t.peers.Load() {
		ps := get(id)
		ps.Addr = *p.addr.Load()
		c := p.cur.Load()
		ps.Connected = c != nil && !c.dead.Load()
		ps.MessagesSent = p.sent.Load()
		ps.BytesSent = p.sentBytes.Load()
		ps.FramesSent = p.frames.Load()
		ps.Dropped = p.dropped.Load()
		ps.Reconnects = p.reconnects.Load()
		ps.DialFailures = p.dialFails.Load()
	}
	t.mu.Lock()
	s.Inbound = len(t.inbound)
	for id, c := range t.nodes {
		ps := get(id)
		ps.MessagesReceived = c.msgs.Load()
		ps.BytesReceived = c.bytes.Load()
		ps.FramesReceived = c.frames.Load()
		ps.Discarded = c.discarded.Load()
	}
	t.mu.Unlock()
	s.Peers = make([]PeerStats, 0, len(byNode))
	for _, ps := range byNode {
		s.Peers = append(s.Peers, *ps)
	}
	slices.SortFunc(s.Peers, func(a, b PeerStats) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return s
}

// Peer returns the counters of node id from s, and whether s has them.
func (s Stats) Peer(id uint64) (PeerStats, bool) {
	for _, p := range s.Peers {
		if p.Node == id {
			return p, true
		}
	}
	return PeerStats{}, false
}
