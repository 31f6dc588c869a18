package wire

import (
	"errors"

	"github.com/sluicedb/sluice/api"
)

// Routing puts to shard leaders. In a cluster every node takes every
// request, and a put to a shard another node leads costs the records a hop
// between nodes. A client that knows where each shard is led sends each
// shard's records to its leader instead:
//
// ShardMap request: str stream. Response:
//
//	+-------------+------------------+-----------+------------+-------------------------------+
//	| stream: str | incarnation: u32 | self: u64 | nodes: u16 | nodes × (id u64 | address str) |
//	+-------------+------------------+-----------+------------+-------------------------------+
//	| shards: u32 | shards × (index u32 | hash start | hash end | leader u64)                   |
//	+-------------+-------------------------------------------------------------------------+
//
// Self is the answering node; a node's address is its binary protocol's,
// "" when it is not known (and, for self, the address the client asked).
// The shards are the stream's open shards, in hash key order; a leader of 0
// is not known at the moment. A single server answers as node 1 leading
// every shard.
//
// PutShard request: the body of a PutRecords request with the shard it is
// meant for after the stream name:
//
//	+-------------+------------------+-----------+-----------+-----------------+
//	| stream: str | incarnation: u32 | shard: u32| count: u16| count × record  |
//	+-------------+------------------+-----------+-----------+-----------------+
//
// A node that leads that shard of that incarnation of the stream puts the
// records as PutRecords would, and answers as PutRecords does; each record
// still goes to the shard its hash key names (a result in another shard
// says the client's map is out of date). A node that does not lead it
// answers NotLeaderException, whose error body carries the leader's id and
// address after the message when the node knows them:
//
//	| name: str | message: str | leader: u64 | address: str |
//
// and stores nothing.

// NameNotLeader is the exception a node answers to a PutShard for a shard
// it does not lead. It is retryable: ask the leader it names, or the shard
// map again.
const NameNotLeader = "NotLeaderException"

// ErrNotLeader matches, with errors.Is, a NotLeaderException from the
// server.
var ErrNotLeader = errors.New("wire: not the shard's leader")

// ShardRoute is one open shard of a shard map.
type ShardRoute struct {
	Index              uint32
	HashStart, HashEnd api.HashKey
	// Leader is the node that leads the shard, 0 if none is known.
	Leader uint64
}

// NodeAddr is a node and the address of its binary protocol.
type NodeAddr struct {
	ID   uint64
	Addr string
}

// RespShardMap is the response of ShardMap.
type RespShardMap struct {
	Stream      string
	Incarnation uint32
	Self        uint64
	Nodes       []NodeAddr
	Shards      []ShardRoute
}

// shardRouteSize is an encoded ShardRoute: index, two hash keys, leader.
const shardRouteSize = 4 + HashSize + HashSize + 8

func (m *RespShardMap) AppendTo(b []byte) []byte {
	b = AppendStr(b, m.Stream)
	b = AppendU32(b, m.Incarnation)
	b = appendU64(b, m.Self)
	b = AppendU16(b, uint16(len(m.Nodes)))
	for _, n := range m.Nodes {
		b = appendU64(b, n.ID)
		b = AppendStr(b, n.Addr)
	}
	b = AppendU32(b, uint32(len(m.Shards)))
	for i := range m.Shards {
		s := &m.Shards[i]
		b = AppendU32(b, s.Index)
		b = appendHash(b, s.HashStart)
		b = appendHash(b, s.HashEnd)
		b = appendU64(b, s.Leader)
	}
	return b
}

func (m *RespShardMap) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Incarnation = d.U32("incarnation")
	m.Self = d.U64("answering node")
	n := d.count("node count", false, 8+2)
	m.Nodes = nil
	if n > 0 {
		m.Nodes = make([]NodeAddr, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		m.Nodes[i] = NodeAddr{ID: d.U64("node id"), Addr: d.str("node address")}
	}
	n = d.count("shard count", true, shardRouteSize)
	m.Shards = nil
	if n > 0 {
		m.Shards = make([]ShardRoute, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		m.Shards[i] = ShardRoute{Index: d.U32("shard index"), HashStart: d.hash("hash start"), HashEnd: d.hash("hash end"), Leader: d.U64("leader")}
	}
	if d.err != nil {
		m.Nodes, m.Shards = nil, nil
	}
}

// ReqPutShard is a PutShard request. Stream and the records alias the body
// on decode; Recs is reused.
type ReqPutShard struct {
	Stream      []byte
	Incarnation uint32
	Shard       uint32
	Recs        []api.PutRecord
}

func (m *ReqPutShard) AppendTo(b []byte) []byte {
	b = appendBytes16(b, m.Stream)
	b = AppendU32(b, m.Incarnation)
	b = AppendU32(b, m.Shard)
	return AppendPutRecords(b, m.Recs)
}

// AppendPutShardHead appends the part of a PutShard body before the record
// count: the stream, its incarnation and the shard.
func AppendPutShardHead(b []byte, stream string, inc, shard uint32) []byte {
	b = AppendStr(b, stream)
	b = AppendU32(b, inc)
	return AppendU32(b, shard)
}

func (m *ReqPutShard) DecodeFrom(d *Decoder) {
	m.Stream = d.StrBytes("stream name")
	m.Incarnation = d.U32("incarnation")
	m.Shard = d.U32("shard")
	n := d.count("record count", false, minRecordSize)
	if cap(m.Recs) < n {
		m.Recs = make([]api.PutRecord, n)
	}
	m.Recs = m.Recs[:n]
	for i := 0; i < n && d.err == nil; i++ {
		d.record(&m.Recs[i])
	}
	if d.err != nil {
		clear(m.Recs)
		m.Recs = m.Recs[:0]
	}
}

// AppendError appends the error body of e: its name and message and, for
// a NotLeaderException, the leader it names.
func AppendError(b []byte, e *Error) []byte {
	b = AppendErrorBody(b, e.Name, e.Message)
	if e.Name == NameNotLeader {
		b = appendU64(b, e.Leader)
		b = AppendStr(b, e.LeaderAddr)
	}
	return b
}

// NotLeaderError is the error a node answers to a PutShard for a shard it
// does not lead: leader (0 if not known) and its address ("" if not known)
// say where to send it.
func NotLeaderError(msg string, leader uint64, addr string) *Error {
	return &Error{Code: api.CodeInternal, Name: NameNotLeader, Message: msg, Leader: leader, LeaderAddr: addr}
}
