package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/sluicedb/sluice/cluster"
)

// Defaults of Config's fields.
const (
	// DefaultMaxFrameSize: 64 MiB for the messages (a Raft append or
	// snapshot message is bounded well below it by the host) plus 1 MiB of
	// room for the envelopes' framing.
	DefaultMaxFrameSize = 64<<20 + 1<<20
	// DefaultQueueMessages bounds a peer's queue: room for one heartbeat of
	// each of tens of thousands of groups while a write is in flight.
	DefaultQueueMessages = 64 << 10
	// DefaultQueueBytes bounds the encoded bytes of a peer's queue.
	DefaultQueueBytes = 64 << 20
	// DefaultDialTimeout bounds a dial and its handshake (TLS included).
	DefaultDialTimeout = 2 * time.Second
	// DefaultWriteTimeout bounds one write to a peer.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the wait before dialing
	// a peer again after a failed dial; it doubles from the one to the
	// other.
	DefaultBackoffMin = 50 * time.Millisecond
	DefaultBackoffMax = time.Second

	// minMaxFrameSize is the smallest MaxFrameSize accepted: room for a
	// batch of heartbeats.
	minMaxFrameSize = 64 << 10
)

// Config configures a Transport. NodeID, Receiver and one of Listener and
// Listen are required; every other field has a default.
type Config struct {
	// NodeID is this node's id, non-zero.
	NodeID uint64
	// ClusterID is the cluster's id. A connection between nodes of
	// different clusters is refused at the handshake, with an error logged
	// on both sides.
	ClusterID uint64

	// Listener is where peers connect. The transport owns it and closes it
	// on Close. When nil, Listen is the address to listen on.
	Listener net.Listener
	// Listen is the TCP address to listen on (host:port) when Listener is
	// nil.
	Listen string

	// Peers maps node ids to their addresses (host:port). An entry for
	// NodeID itself is ignored, so every node can be given the same map.
	// SetPeer and RemovePeer change it at run time.
	Peers map[uint64]string

	// Receiver takes what arrives and hears of what could not be sent.
	Receiver cluster.Receiver

	// Streams, when set, serves the stream connections other nodes open
	// with DialStream (stream.go): it is called on a goroutine of its own
	// with the node that dialed and the connection, after the handshake
	// (and TLS, when configured), and owns the connection until it
	// returns; Close closes the connection and waits for it to return.
	// Nil refuses stream connections at the handshake.
	Streams func(from uint64, conn net.Conn)

	// TLS, when set, secures every connection with mutual TLS: dialing
	// presents its certificates and verifies the peer against RootCAs
	// (ServerName defaults to the host of the peer's address); accepting
	// presents them too and requires and verifies a client certificate
	// against ClientCAs (default RootCAs), unless ClientAuth says
	// otherwise.
	TLS *tls.Config

	// Logger receives the transport's log lines; default slog.Default().
	Logger *slog.Logger

	// DialTimeout bounds a dial and its handshake (and an accepted
	// connection's handshake); default DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to a peer; a write that takes longer
	// fails, the connection closes and the peer is reported unreachable.
	// Default DefaultWriteTimeout; it must leave time for a frame of
	// MaxFrameSize at the slowest link's speed.
	WriteTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before dialing a peer again
	// after a failed dial, doubling from one to the other; messages for the
	// peer meanwhile are dropped and reported. Defaults DefaultBackoffMin
	// and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration

	// MaxFrameSize is the largest frame, header included, that this node
	// accepts and sends; default DefaultMaxFrameSize, at least 64 KiB. A
	// message whose envelope does not fit in one frame cannot be sent. Give
	// every node the same value: a node sends no frame larger than its
	// peer announces.
	MaxFrameSize int
	// QueueMessages and QueueBytes bound the envelopes queued for one
	// peer and not yet taken by its sender; a message that would exceed
	// either is dropped and the peer reported unreachable. A message is
	// always taken into an empty queue. A peer holds at most twice this
	// (the queue, and the frames being written). Defaults
	// DefaultQueueMessages and DefaultQueueBytes.
	QueueMessages, QueueBytes int

	// Dial opens connections to peers; default a net.Dialer's DialContext.
	// Tests use it to slow a link down or cut it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.NodeID == 0 {
		return c, errors.New("transport: NodeID is 0; node ids start at 1")
	}
	if c.Receiver == nil {
		return c, errors.New("transport: no Receiver; give the transport what takes the messages that arrive")
	}
	if c.Listener == nil && c.Listen == "" {
		return c, errors.New("transport: neither Listener nor Listen is set; give the address peers connect to")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	switch {
	case c.MaxFrameSize == 0:
		c.MaxFrameSize = DefaultMaxFrameSize
	case c.MaxFrameSize < minMaxFrameSize || c.MaxFrameSize > maxFrameLimit:
		return c, fmt.Errorf("transport: MaxFrameSize is %d bytes; it must be between %d and %d", c.MaxFrameSize, minMaxFrameSize, maxFrameLimit)
	}
	if c.QueueMessages <= 0 {
		c.QueueMessages = DefaultQueueMessages
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	for id, addr := range c.Peers {
		if id == 0 {
			return c, fmt.Errorf("transport: Peers has node id 0 (address %q); node ids start at 1", addr)
		}
		if addr == "" && id != c.NodeID {
			return c, fmt.Errorf("transport: Peers has no address for node %d; give host:port", id)
		}
	}
	return c, nil
}
