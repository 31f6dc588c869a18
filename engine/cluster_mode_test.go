package engine

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The engine's tests run against a single engine, or, in cluster mode,
// against one replica of a three-node cluster in this process: every test
// that opens its engine through openEngine (or openTest, openDir) then
// exercises the cluster through that replica, whose writes and catalog
// changes go through Raft. Cluster mode is on with
//
//	SLUICE_ENGINE_CLUSTER=1 go test ./engine
//	go test ./engine -cluster
//
// The replica a test talks to is chosen from its name, so that across the
// suite it is sometimes a shard's leader and sometimes a follower.

var clusterFlag = flag.Bool("cluster", false, "run the engine's tests against a three-node cluster in this process (or SLUICE_ENGINE_CLUSTER=1)")

// clusterMode reports whether the tests run against a cluster.
func clusterMode() bool { return *clusterFlag || os.Getenv("SLUICE_ENGINE_CLUSTER") == "1" }

// requireSingleNode skips a test in cluster mode: it tests machinery only a
// single node has (the commit log, the single node's files under a crash,
// a fault-injecting file system, ...) or what a cluster does not do yet;
// why names it.
func requireSingleNode(t testing.TB, why string) {
	t.Helper()
	if clusterMode() {
		t.Skip("single node only: " + why)
	}
}

// TestNode is a node of an in-process cluster: the Replica of one engine.
type TestNode interface {
	Replica
	ChangeReplica
	// Start serves the cluster with e, opened with this node as its
	// Replica.
	Start(e *Engine) error
	// Ready waits until the node has joined the cluster.
	Ready(ctx context.Context) error
	// Close stops the node; the engine is closed after it.
	Close() error
}

// NewTestNode opens node id of the cluster peers (node id to Raft address)
// with its data in dir. It is set by cluster_node_test.go, in package
// engine_test, which may import package cluster/node (which imports this
// one).
var NewTestNode func(id uint64, peers map[uint64]string, dir string) (TestNode, error)

// testCluster is three nodes, each with its replicated engine.
type testCluster struct {
	peers map[uint64]string
	dirs  map[uint64]string
	nodes map[uint64]TestNode // running nodes
	engs  map[uint64]*Engine  // their engines
}

// member is one node of a test cluster, as a test sees its engine.
type member struct {
	c  *testCluster
	id uint64
}

// clusters finds the cluster node behind a test's engine (to close it) and
// behind a data directory (to restart it).
var clusters struct {
	mu    sync.Mutex
	byDir map[string]member
	byEng map[*Engine]member
}

// openEngine opens an engine with opts for a test that closes it itself
// (with closeEngine) and may open it again on the same directory. In
// cluster mode it starts a three-node cluster whose node serving the test
// keeps its data in opts.Dir, or, when opts.Dir is that of a node closed
// before, starts that node again, and returns the node's engine.
func openEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if !clusterMode() {
		e, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if NewTestNode == nil {
		t.Fatal("cluster mode, but no cluster node factory is linked into the test binary")
	}
	dir := filepath.Clean(opts.Dir)
	clusters.mu.Lock()
	m, ok := clusters.byDir[dir]
	clusters.mu.Unlock()
	if ok {
		if m.c.nodes[m.id] != nil {
			t.Fatalf("the engine in %s is open already", dir)
		}
		return m.c.start(t, m.id, opts)
	}
	return startCluster(t, opts)
}

// closeEngine closes an engine opened by openEngine or openTest: in
// cluster mode, its node first, then the engine. Closing it again is
// harmless.
func closeEngine(e *Engine) error {
	clusters.mu.Lock()
	m, ok := clusters.byEng[e]
	clusters.mu.Unlock()
	if !ok {
		return e.Close()
	}
	return m.c.stop(m.id)
}

// startCluster starts three nodes and returns the engine of the one whose
// data directory is opts.Dir, chosen by the test's name.
func startCluster(t testing.TB, opts Options) *Engine {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	serve := uint64(h.Sum32()%3) + 1
	c := &testCluster{peers: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]TestNode{}, engs: map[uint64]*Engine{}}
	for id := uint64(1); id <= 3; id++ {
		c.peers[id] = freeAddr(t)
		c.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint("node", id))
	}
	c.dirs[serve] = filepath.Clean(opts.Dir)
	t.Cleanup(func() {
		for id := range c.peers {
			c.stop(id)
		}
	})
	for id := range c.peers {
		c.start(t, id, opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id, nd := range c.nodes {
		if err := nd.Ready(ctx); err != nil {
			t.Fatalf("node %d did not join the cluster: %v", id, err)
		}
	}
	t.Logf("cluster mode: the test talks to node %d of 3", serve)
	return c.engs[serve]
}

// freeAddr returns a loopback address no one listens on now, with a port
// below Linux's ephemeral range (32768 and up), so that no outgoing
// connection (the nodes' own among them) takes it before the node listens.
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port found in 100 tries")
	return ""
}

// start starts node id with its engine, opened with opts in the node's
// directory.
func (c *testCluster) start(t testing.TB, id uint64, opts Options) *Engine {
	t.Helper()
	nd, err := NewTestNode(id, c.peers, c.dirs[id])
	if err != nil {
		t.Fatalf("open node %d: %v", id, err)
	}
	opts.Dir, opts.Replica = c.dirs[id], nd
	e, err := Open(opts)
	if err != nil {
		nd.Close()
		t.Fatalf("open the engine of node %d: %v", id, err)
	}
	if err := nd.Start(e); err != nil {
		nd.Close()
		e.Close()
		t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id], c.engs[id] = nd, e
	clusters.mu.Lock()
	if clusters.byDir == nil {
		clusters.byDir, clusters.byEng = map[string]member{}, map[*Engine]member{}
	}
	clusters.byDir[c.dirs[id]] = member{c, id}
	clusters.byEng[e] = member{c, id}
	clusters.mu.Unlock()
	return e
}

// stop closes node id, if it runs, and its engine.
func (c *testCluster) stop(id uint64) error {
	nd, e := c.nodes[id], c.engs[id]
	if nd == nil {
		return nil
	}
	delete(c.nodes, id)
	delete(c.engs, id)
	err := nd.Close()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	clusters.mu.Lock()
	delete(clusters.byEng, e)
	clusters.mu.Unlock()
	return err
}
