package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
)

// Cluster is a client of every node of a sluice cluster: one connection per
// node, dialled when first needed. Its producers (NewProducer) learn each
// stream's shard map (which node leads each shard, and the shards' hash key
// ranges), hash each record's partition key to its shard and send the
// shard's records to its leader, so that no node forwards them to another;
// a NotLeaderException, a lost connection or a record stored in another
// shard than the map said (a reshard) makes them ask for the map again and
// retry. Reads and every other operation go to any node through Client.
//
// A single server answers the shard map as a node leading every shard, so a
// Cluster works against one server too. It is safe for concurrent use.
type Cluster struct {
	opts  ClientOptions
	seeds []string

	// mu guards conns, order, nodes, maps and closed.
	mu     sync.Mutex
	conns  map[string]*Client                 // by address; a lost connection is dialled again
	order  []string                           // addresses to try for Client, seeds first
	nodes  map[uint64]string                  // node id → binary protocol address, as the maps said
	maps   map[string]*atomic.Pointer[routes] // per stream, the latest map (producers load it without a lock)
	closed bool

	// refreshMu is held while a map is fetched, so that the senders that
	// find it stale at once fetch it once.
	refreshMu sync.Mutex

	refreshes, notLeader atomic.Int64
}

// ClusterStats counts what a Cluster did since it was dialled.
type ClusterStats struct {
	// Refreshes is how many shard maps it fetched; NotLeader how many
	// NotLeaderException answers its producers got.
	Refreshes, NotLeader int64
}

// routes is one stream's shard map as fetched: immutable once published.
type routes struct {
	stream string
	inc    uint32
	shards []route // open shards in hash key order
	gen    uint64  // counts the maps fetched for the stream
}

type route struct {
	index      uint32
	start, end api.HashKey
	leader     uint64
	addr       string // the leader's binary protocol address, "" if not known
}

// find returns the position of the shard whose range holds h, or -1.
func (r *routes) find(h api.HashKey) int {
	i := sort.Search(len(r.shards), func(i int) bool { return r.shards[i].end.Cmp(h) >= 0 })
	if i == len(r.shards) || r.shards[i].start.Cmp(h) > 0 {
		return -1
	}
	return i
}

// shard returns the route of shard index, if the map has it open.
func (r *routes) shard(index uint32) (route, bool) {
	for i := range r.shards {
		if r.shards[i].index == index {
			return r.shards[i], true
		}
	}
	return route{}, false
}

// DialCluster connects to the first of seeds (host:port addresses of the
// nodes' binary protocol) that answers. The other nodes are learned from the
// shard maps; opts is used for every connection.
func DialCluster(ctx context.Context, seeds []string, opts ClientOptions) (*Cluster, error) {
	if len(seeds) == 0 {
		return nil, errors.New("wire: DialCluster needs at least one seed address (host:port of a node's binary protocol)")
	}
	cl := &Cluster{opts: opts, seeds: seeds, conns: map[string]*Client{}, nodes: map[uint64]string{}, maps: map[string]*atomic.Pointer[routes]{}}
	cl.order = append(cl.order, seeds...)
	if _, err := cl.Client(ctx); err != nil {
		return nil, err
	}
	return cl, nil
}

// Client returns a connection to any node that answers, for reads and the
// operations that are not routed. It is dialled if none is open.
func (cl *Cluster) Client(ctx context.Context) (*Client, error) {
	cl.mu.Lock()
	order := append([]string(nil), cl.order...)
	for _, a := range order {
		if c := cl.conns[a]; c != nil && !c.lost() {
			cl.mu.Unlock()
			return c, nil
		}
	}
	cl.mu.Unlock()
	var errs []error
	for _, a := range order {
		c, err := cl.conn(ctx, a)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no node of the cluster answers: %w", errors.Join(errs...))
}

// conn returns the open connection to addr, dialling it if there is none
// or the last one was lost.
func (cl *Cluster) conn(ctx context.Context, addr string) (*Client, error) {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil, wire.ErrClosed
	}
	if c := cl.conns[addr]; c != nil && !c.lost() {
		cl.mu.Unlock()
		return c, nil
	}
	cl.mu.Unlock()
	c, err := Dial(ctx, addr, cl.opts)
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		c.Close()
		return nil, wire.ErrClosed
	}
	if old := cl.conns[addr]; old != nil && !old.lost() {
		c.Close() // another caller dialled it meanwhile
		return old, nil
	} else if old != nil {
		old.Close()
	}
	cl.conns[addr] = c
	return c, nil
}

// Close closes every connection. Producers made by the Cluster must be
// closed first.
func (cl *Cluster) Close() error {
	cl.mu.Lock()
	cl.closed = true
	conns := cl.conns
	cl.conns = map[string]*Client{}
	cl.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// Stats returns the cluster client's counters.
func (cl *Cluster) Stats() ClusterStats {
	return ClusterStats{Refreshes: cl.refreshes.Load(), NotLeader: cl.notLeader.Load()}
}

// ShardLeaders asks a node for stream's shard map now, makes it the one
// the client routes by, and returns each open shard's id with the address
// of its leader ("" if no leader is known).
func (cl *Cluster) ShardLeaders(ctx context.Context, stream string) (map[string]string, error) {
	var gen uint64
	if r := cl.slot(stream).Load(); r != nil {
		gen = r.gen
	}
	r, err := cl.refresh(ctx, stream, gen)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(r.shards))
	for _, s := range r.shards {
		out[api.ShardID(int(s.index))] = s.addr
	}
	return out, nil
}

// routes returns stream's map, fetching it if the client has none.
func (cl *Cluster) routes(ctx context.Context, stream string) (*routes, error) {
	if r := cl.slot(stream).Load(); r != nil {
		return r, nil
	}
	return cl.refresh(ctx, stream, 0)
}

// slot returns where stream's newest map is published.
func (cl *Cluster) slot(stream string) *atomic.Pointer[routes] {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	s := cl.maps[stream]
	if s == nil {
		s = new(atomic.Pointer[routes])
		cl.maps[stream] = s
	}
	return s
}

// refresh fetches stream's map from any node, unless a map newer than gen
// was fetched meanwhile, and returns the newest.
func (cl *Cluster) refresh(ctx context.Context, stream string, gen uint64) (*routes, error) {
	cl.refreshMu.Lock()
	defer cl.refreshMu.Unlock()
	if r := cl.slot(stream).Load(); r != nil && r.gen > gen {
		return r, nil
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		c, err := cl.Client(ctx)
		if err != nil {
			return nil, err
		}
		var m wire.RespShardMap
		err = c.do(ctx, wire.OpShardMap, &wire.ReqStream{Stream: stream}, &m)
		if errors.Is(err, wire.ErrConnectionLost) {
			lastErr = err
			continue // that node went away: ask another
		}
		if err != nil {
			return nil, err
		}
		cl.refreshes.Add(1)
		return cl.publish(stream, c, &m), nil
	}
	return nil, lastErr
}

// publish records the map m that c's node answered and returns it as
// routes.
func (cl *Cluster) publish(stream string, c *Client, m *wire.RespShardMap) *routes {
	asked := c.addr
	slot := cl.slot(stream)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, n := range m.Nodes {
		addr := nodeAddr(n.Addr, asked, n.ID == m.Self)
		if addr == "" {
			continue
		}
		if !slices.Contains(cl.order, addr) {
			cl.order = append(cl.order, addr)
		}
		cl.nodes[n.ID] = addr
	}
	r := &routes{stream: stream, inc: m.Incarnation, shards: make([]route, len(m.Shards))}
	if old := slot.Load(); old != nil {
		r.gen = old.gen
	}
	r.gen++
	for i, s := range m.Shards {
		r.shards[i] = route{index: s.Index, start: s.HashStart, end: s.HashEnd, leader: s.Leader, addr: cl.nodes[s.Leader]}
		if s.Leader == 0 {
			r.shards[i].addr = ""
		}
	}
	slot.Store(r)
	return r
}

// hint records, after a NotLeaderException, that leader (at addr) leads
// shard of the map r, if r is still the newest; it returns the newest map.
func (cl *Cluster) hint(r *routes, shard uint32, leader uint64, addr, asked string) *routes {
	addr = nodeAddr(addr, asked, false)
	slot := cl.slot(r.stream)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cur := slot.Load()
	if cur != r || leader == 0 || addr == "" {
		return cur
	}
	next := &routes{stream: r.stream, inc: r.inc, shards: append([]route(nil), r.shards...), gen: r.gen + 1}
	for i := range next.shards {
		if next.shards[i].index == shard {
			next.shards[i].leader, next.shards[i].addr = leader, addr
		}
	}
	if !slices.Contains(cl.order, addr) {
		cl.order = append(cl.order, addr)
	}
	cl.nodes[leader] = addr
	slot.Store(next)
	return next
}

// nodeAddr is the address to dial for a node that announced addr, learned
// through a connection to asked: "" for the answering node itself means
// asked, and an unspecified host (a node listening on every interface)
// takes asked's host.
func nodeAddr(addr, asked string, self bool) string {
	if addr == "" {
		if self {
			return asked
		}
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if ah, _, err := net.SplitHostPort(asked); err == nil {
			return net.JoinHostPort(ah, port)
		}
	}
	return addr
}
