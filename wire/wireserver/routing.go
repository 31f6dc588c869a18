package wireserver

import (
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// Cluster is the cluster a server's engine is a node of, as the routing
// operations need it (ShardMap and PutShard; see wire/routing.go). A server
// without one is a single node that leads every shard.
type Cluster interface {
	// ID is this node's id.
	ID() uint64
	// ShardLeader returns the node that leads shard index of the stream
	// incarnation inc as this node last heard, 0 if it knows none. It is
	// called once per PutShard request, on the connection's reader: it
	// must be cheap and take no lock shared with the write path.
	ShardLeader(inc uint32, index int) uint64
	// NodeAddrs returns the nodes and the addresses of their binary
	// protocols, as they announced them ("" if not known).
	NodeAddrs() []wire.NodeAddr
}

// singleNode is the id a server without a Cluster gives itself in a shard
// map.
const singleNode = 1

// shardMap answers ShardMap: the stream's open shards in hash key order,
// each with the leader this node knows of.
func (c *conn) shardMap(body []byte) (wire.Message, error) {
	return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
		info, err := c.srv.eng.DescribeStream(m.Stream)
		if err != nil {
			return nil, err
		}
		resp := &wire.RespShardMap{Stream: info.Name, Incarnation: info.Incarnation, Self: singleNode}
		cl := c.srv.opts.Cluster
		if cl == nil {
			resp.Nodes = []wire.NodeAddr{{ID: singleNode}}
		} else {
			resp.Self = cl.ID()
			resp.Nodes = cl.NodeAddrs()
		}
		for _, sh := range info.Shards {
			if sh.Closed {
				continue
			}
			leader := uint64(singleNode)
			if cl != nil {
				leader = cl.ShardLeader(info.Incarnation, sh.Index)
			}
			resp.Shards = append(resp.Shards, wire.ShardRoute{Index: uint32(sh.Index), HashStart: sh.HashStart, HashEnd: sh.HashEnd, Leader: leader})
		}
		sortRoutes(resp.Shards)
		return resp, nil
	})
}

// sortRoutes sorts shards by their hash key ranges' starts (an insertion
// sort: the engine lists them in index order, which after splits and
// merges is nearly sorted already).
func sortRoutes(s []wire.ShardRoute) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].HashStart.Cmp(s[j-1].HashStart) < 0; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// startPutShard decodes a PutShard request and, if this node leads its
// shard, hands it to a goroutine as a PutRecords; otherwise it answers
// NotLeaderException naming the leader, and nothing is stored. It owns bb.
func (c *conn) startPutShard(h wire.Header, bb *bytebufferpool.ByteBuffer, resource string) {
	j := getPutJob(c)
	j.body = bb
	j.resource = resource
	m := wire.ReqPutShard{Recs: j.req.Recs[:0]}
	d := wire.NewDecoder(bb.B)
	m.DecodeFrom(&d)
	j.req.Recs = m.Recs
	if err := d.Finish(); err != nil {
		j.free()
		c.malformed(h, err)
		return
	}
	if cl := c.srv.opts.Cluster; cl != nil {
		if leader := cl.ShardLeader(m.Incarnation, int(m.Shard)); leader != cl.ID() {
			e := c.notLeader(cl, m.Stream, m.Shard, leader)
			j.free()
			c.auditResult(wire.OpPutShard, resource, e)
			c.respondError(wire.OpPutShard, h.ID, e, h.Size, 1)
			return
		}
	}
	j.req.Stream = m.Stream
	j.batch = true
	j.op = wire.OpPutShard
	j.id = h.ID
	j.cost = h.Size
	j.stream = c.intern.get(m.Stream)
	c.handlers.Add(1)
	go j.run()
}

// notLeader is the NotLeaderException for a PutShard this node does not
// lead, naming leader and its address if known.
func (c *conn) notLeader(cl Cluster, stream []byte, shard uint32, leader uint64) *wire.Error {
	shardID := api.ShardID(int(shard))
	if leader == 0 {
		return wire.NotLeaderError(fmt.Sprintf("node %d does not lead %s of stream %s and knows no leader of it (an election is under way, or the map is out of date); ask for the shard map again",
			cl.ID(), shardID, stream), 0, "")
	}
	var addr string
	for _, n := range cl.NodeAddrs() {
		if n.ID == leader {
			addr = n.Addr
		}
	}
	return wire.NotLeaderError(fmt.Sprintf("node %d does not lead %s of stream %s; node %d does (%s)", cl.ID(), shardID, stream, leader, addr), leader, addr)
}
