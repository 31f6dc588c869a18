package transport

import (
	"encoding/binary"
	"fmt"
)

// The handshake (drawn in doc.go). These constants are part of the
// protocol: changing any of them is a version bump.
const (
	// magic opens every hello of a Raft connection: the bytes "SLRT".
	magic = "SLRT"
	// streamMagic opens the hello of a stream connection (stream.go):
	// the bytes "SLRS". The rest of the hello is the same.
	streamMagic = "SLRS"
	// version is the protocol version this package speaks.
	version uint16 = 1
	// helloSize is the size of both hellos: magic, version, status, cluster
	// id, from node, to node, max frame, reserved.
	helloSize = 4 + 2 + 2 + 8 + 8 + 8 + 4 + 4
)

// Handshake status codes, in the acceptor's hello.
const (
	statusOK       uint16 = 0
	statusVersion  uint16 = 1 // the dialer's version is not spoken here
	statusCluster  uint16 = 2 // the dialer belongs to another cluster
	statusNode     uint16 = 3 // the acceptor is not the node the dialer meant
	statusBadHello uint16 = 4 // from is 0 or the acceptor's own id
	statusNoStream uint16 = 5 // a stream hello, and the acceptor serves no streams
)

// hello is either side's handshake message.
type hello struct {
	Version  uint16
	Status   uint16 // acceptor only
	Cluster  uint64
	From, To uint64
	MaxFrame uint32 // acceptor only: the largest frame it accepts
	// Stream marks the hello of a stream connection (streamMagic); the
	// acceptor answers it with a stream hello too.
	Stream bool
}

// marshal encodes h as it goes on the wire.
func (h hello) marshal() [helloSize]byte {
	var b [helloSize]byte
	copy(b[:4], magic)
	if h.Stream {
		copy(b[:4], streamMagic)
	}
	binary.LittleEndian.PutUint16(b[4:], h.Version)
	binary.LittleEndian.PutUint16(b[6:], h.Status)
	binary.LittleEndian.PutUint64(b[8:], h.Cluster)
	binary.LittleEndian.PutUint64(b[16:], h.From)
	binary.LittleEndian.PutUint64(b[24:], h.To)
	binary.LittleEndian.PutUint32(b[32:], h.MaxFrame)
	return b
}

// parseHello decodes a hello. It checks only what every hello must get
// right (the magic and the reserved word); the acceptor and the dialer
// judge the rest.
func parseHello(b []byte) (hello, error) {
	if len(b) != helloSize {
		return hello{}, fmt.Errorf("%w: a hello is %d bytes, not %d", ErrHandshake, helloSize, len(b))
	}
	stream := string(b[:4]) == streamMagic
	if string(b[:4]) != magic && !stream {
		return hello{}, fmt.Errorf("%w: the peer sent %q where the magic %q belongs; it does not speak sluice's raft transport", ErrHandshake, b[:4], magic)
	}
	if r := binary.LittleEndian.Uint32(b[36:]); r != 0 {
		return hello{}, fmt.Errorf("%w: the hello's reserved word is %#x; it must be 0", ErrHandshake, r)
	}
	return hello{
		Version:  binary.LittleEndian.Uint16(b[4:]),
		Status:   binary.LittleEndian.Uint16(b[6:]),
		Cluster:  binary.LittleEndian.Uint64(b[8:]),
		From:     binary.LittleEndian.Uint64(b[16:]),
		To:       binary.LittleEndian.Uint64(b[24:]),
		MaxFrame: binary.LittleEndian.Uint32(b[32:]),
		Stream:   stream,
	}, nil
}

// judge is the acceptor's verdict on a dialer's hello h, made by node
// self of cluster: the status to answer and, when it is not statusOK, why.
func judge(h hello, cluster, self uint64) (uint16, error) {
	switch {
	case h.Version != version:
		return statusVersion, fmt.Errorf("%w: the peer speaks version %d; this node speaks %d", ErrVersion, h.Version, version)
	case h.Cluster != cluster:
		return statusCluster, fmt.Errorf("%w: node %d belongs to cluster %d and this node to cluster %d; a node talks only to nodes of its own cluster",
			ErrClusterMismatch, h.From, h.Cluster, cluster)
	case h.From == 0 || h.From == self:
		return statusBadHello, fmt.Errorf("%w: the peer says it is node %d; it must give its own node id, non-zero and not this node's (%d)", ErrHandshake, h.From, self)
	case h.To != self:
		return statusNode, fmt.Errorf("%w: node %d dialed node %d, but this is node %d; node %d's address for node %d is wrong",
			ErrWrongNode, h.From, h.To, self, h.From, h.To)
	}
	return statusOK, nil
}

// check is the dialer's verdict on the answer a of the node it dialed,
// meaning to reach node want of cluster, as node self.
func check(a hello, cluster, self, want uint64) error {
	switch a.Status {
	case statusOK:
	case statusVersion:
		return fmt.Errorf("%w: node %d speaks version %d; this node speaks %d", ErrVersion, want, a.Version, version)
	case statusCluster:
		return fmt.Errorf("%w: the node at node %d's address belongs to cluster %d and this node to cluster %d; check the peer addresses and cluster ids",
			ErrClusterMismatch, want, a.Cluster, cluster)
	case statusNode:
		return fmt.Errorf("%w: node %d's address answers as node %d; the address for node %d is wrong", ErrWrongNode, want, a.From, want)
	case statusBadHello:
		return fmt.Errorf("%w: node %d refused this node's hello (node id %d)", ErrHandshake, want, self)
	case statusNoStream:
		return fmt.Errorf("%w: node %d serves no stream connections", ErrNoStreams, want)
	default:
		return fmt.Errorf("%w: node %d answered with unknown status %d", ErrHandshake, want, a.Status)
	}
	switch {
	case a.Version != version:
		return fmt.Errorf("%w: node %d accepted but answered with version %d; this node speaks %d", ErrHandshake, want, a.Version, version)
	case a.Cluster != cluster:
		return fmt.Errorf("%w: the node at node %d's address belongs to cluster %d and this node to cluster %d", ErrClusterMismatch, want, a.Cluster, cluster)
	case a.From != want:
		return fmt.Errorf("%w: node %d's address answers as node %d", ErrWrongNode, want, a.From)
	case a.To != self:
		return fmt.Errorf("%w: node %d answered a hello for node %d; this is node %d", ErrHandshake, want, a.To, self)
	case a.MaxFrame < minMaxFrameSize:
		return fmt.Errorf("%w: node %d accepts frames of at most %d bytes; the least a node may accept is %d", ErrHandshake, want, a.MaxFrame, minMaxFrameSize)
	}
	return nil
}
