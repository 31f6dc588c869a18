// Package transport carries Raft messages between the nodes of a sluice
// cluster over TCP (optionally mutual TLS). It implements cluster.Transport
// and delivers what arrives to a cluster.Receiver.
//
// Every node dials each of its peers once and writes to it on that
// connection only; messages from a peer arrive on the connection the peer
// dialed. So a connection carries frames one way, from the node that dialed
// it to the node that accepted it, and the acceptor writes nothing but its
// answer to the handshake.
//
// Each peer has one sender goroutine and a bounded queue. Send encodes the
// envelopes straight into the queue's buffer, already framed; the sender
// takes everything queued at once and writes it in one write, so the
// heartbeats and appends of many groups to one node share a syscall and a
// TCP segment. A message that finds the queue full, or whose write or dial
// fails, is dropped (Raft sends it again) and the receiver is told the node
// is unreachable.
//
// # Handshake
//
// The dialer sends a hello; the acceptor answers with a hello of the same
// layout. All integers are little-endian.
//
//	 0       4         6        8            16          24          32          36          40
//	+-------+---------+--------+------------+-----------+-----------+-----------+-----------+
//	| magic | version | status | cluster id | from node | to node   | max frame | reserved  |
//	| "SLRT"| u16     | u16    | u64        | u64       | u64       | u32       | u32 = 0   |
//	+-------+---------+--------+------------+-----------+-----------+-----------+-----------+
//
// In the dialer's hello, status and max frame are 0, from is the dialer's
// node id and to the node it means to reach. The acceptor answers with its
// version, a status, its own cluster id, its own node id as from, the
// dialer's as to, and the largest frame it accepts. Status 0 opens the
// connection; any other closes it after the answer:
//
//	1  unsupported version (the answer carries the version the acceptor speaks)
//	2  the dialer belongs to another cluster
//	3  the acceptor is not the node the dialer meant (its peer address is stale)
//	4  an invalid hello (node id 0, or the acceptor's own id)
//	5  a stream hello, and the acceptor serves no streams
//
// The dialer checks the answer's cluster id and node id too. A hello
// without the magic, or with reserved bits set, is not answered: the
// connection just closes.
//
// # Streams
//
// A hello with the magic "SLRS" in place of "SLRT" (and otherwise the same
// layout and checks) opens a stream connection instead (DialStream): after
// the handshake it belongs to the dialer and the acceptor's
// Config.Streams, which may both write, in a protocol of their own (a
// shard's segments shipped to a replica that fell behind, package
// cluster/node). It keeps bulk transfers off the Raft connection, so that
// they never delay another group's heartbeats and appends. The acceptor
// answers with a stream hello.
//
// # Frames
//
// After the handshake the dialer sends frames:
//
//	 0        4              8
//	+--------+--------------+--------------------------------------+
//	| length | CRC-32C      | envelopes                            |
//	| u32    | masked, u32  | length bytes                         |
//	+--------+--------------+--------------------------------------+
//
// length counts the bytes after the header; the whole frame (8 + length)
// may not exceed the acceptor's max frame (Config.MaxFrameSize, by default
// 64 MiB plus 1 MiB of room for framing), and length is at least 1. The CRC
// is package internal/checksum's masked CRC-32C of the envelopes. The
// envelopes follow one another to the end of the frame:
//
//	+----------------+-----------------+-----------------------------+
//	| group: uvarint | length: uvarint | raftpb.Message (protobuf)   |
//	| non-zero       |                 | length bytes                |
//	+----------------+-----------------+-----------------------------+
//
// Every message's To is the acceptor and its From the dialer.
//
// A frame is delivered whole, with one Receiver.Receive call, or not at
// all. A bad frame (over the limit, empty, a wrong CRC, an envelope that
// runs past the frame's end, a message that does not decode or is
// addressed to another node) is logged as an error with the peer and what
// was wrong, and its connection closed; a stream that ends inside a frame
// (the peer stopped in the middle of a write) drops the partial frame with
// a warning. The reader's memory follows the bytes that arrived, never
// the length a header declares.
package transport
