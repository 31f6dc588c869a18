package transport

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("transport: closed")

	// ErrNoStreams is returned by DialStream when the peer serves no
	// stream connections (its Config.Streams is nil).
	ErrNoStreams = errors.New("transport: the peer serves no streams")
	// ErrHandshake is matched by every handshake failure: a peer that does
	// not speak the protocol, a refused or garbled hello.
	ErrHandshake = errors.New("transport: handshake failed")

	// ErrClusterMismatch is matched by a handshake refused because the two
	// nodes belong to different clusters.
	ErrClusterMismatch = errors.New("transport: the peer belongs to another cluster")

	// ErrWrongNode is matched by a handshake refused because the node that
	// answered at a peer's address is not that peer.
	ErrWrongNode = errors.New("transport: the node at the peer's address is another node")

	// ErrVersion is matched by a handshake refused because the two nodes do
	// not speak the same protocol version.
	ErrVersion = errors.New("transport: unsupported protocol version")

	// ErrBadFrame is matched by every *FrameError.
	ErrBadFrame = errors.New("transport: bad frame")

	// ErrMessageTooLarge is matched when a message cannot be sent because
	// its envelope alone exceeds the maximum frame size.
	ErrMessageTooLarge = errors.New("transport: message too large")
)

// FrameError is a frame the reader cannot accept. After one the byte
// stream cannot be trusted, and the connection is closed.
type FrameError struct {
	// Size is the frame's declared size in bytes, header included (0 when
	// the header did not arrive whole).
	Size int64
	// Detail says what was wrong.
	Detail string
	// Truncated is set when the stream ended inside the frame: the peer
	// stopped or was cut off in the middle of a write, which is not
	// corruption.
	Truncated bool
}

func (e *FrameError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("transport: bad frame of %d bytes: %s", e.Size, e.Detail)
	}
	return "transport: bad frame: " + e.Detail
}

// Is makes errors.Is(err, ErrBadFrame) true.
func (e *FrameError) Is(target error) bool { return target == ErrBadFrame }
