package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/testcert"
	"github.com/sluicedb/sluice/ratelimit"
)

// startShipNodes starts n nodes whose shard leaders keep only a few
// entries for followers behind and compact often, so that a node down for
// a few hundred puts comes back to a log that no longer has them.
func startShipNodes(t *testing.T, n int) *testNodes {
	t.Helper()
	c := &testNodes{t: t, peers: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*Node{}, engs: map[uint64]*engine.Engine{}}
	for i := 1; i <= n; i++ {
		c.peers[uint64(i)] = freeAddr(t)
		c.dirs[uint64(i)] = filepath.Join(t.TempDir(), fmt.Sprint(i))
	}
	for id := range c.peers {
		startShipNode(c, id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	for id := range c.peers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := c.nodes[id].IteratorKey(ctx); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		cancel()
	}
	return c
}

// freeAddr returns a loopback address that was free, on a port below the
// kernel's range of ephemeral ports, so that no outgoing connection takes
// it while a node that listened there is restarting.
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

// shipTLS, when set, gives startShipNode each node's TLS configuration.
var shipTLS func(id uint64) *tls.Config

func startShipNode(c *testNodes, id uint64) {
	c.t.Helper()
	cfg := Config{NodeID: id, Peers: c.peers, DataDir: c.dirs[id], TickInterval: 20 * time.Millisecond,
		ElectionTimeout: 200 * time.Millisecond, Logger: quiet(),
		KeepForFollowers: 10, SnapshotEntries: 20, CompactionTail: 5}
	if shipTLS != nil {
		cfg.TLS = shipTLS(id)
	}
	nd, err := Open(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: c.dirs[id], Quotas: &q, Replica: nd, Logger: quiet()})
	if err != nil {
		nd.Close()
		c.t.Fatal(err)
	}
	if err := nd.Start(eng, NodeInfo{}); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id], c.engs[id] = nd, eng
}

// downAndBehind makes a one-shard stream, stops a node that does not lead
// its shard and puts 300 records of 1 KiB in 300 entries through the
// others, far more than a leader keeps for it. It returns the stopped node
// and the acknowledgements.
func downAndBehind(t *testing.T, c *testNodes) (down uint64, acked []api.PutResult) {
	t.Helper()
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	acked = putN(t, c.engs[1], "s", "before", 10)
	c.waitSame("s", 10)
	lead := c.nodes[1].Status().Shards[0].Leader
	for id := range c.nodes {
		if id != lead {
			down = id
			break
		}
	}
	c.stop(down)
	var via uint64
	for id := range c.engs {
		via = id
	}
	data := bytes.Repeat([]byte("x"), 1<<10)
	for i := 0; i < 300; i++ {
		r, err := c.engs[via].PutRecord("s", api.PutRecord{Key: []byte(fmt.Sprintf("during-%d", i)), Data: data}, "")
		if err != nil {
			t.Fatalf("put %d while node %d is down: %v", i, down, err)
		}
		acked = append(acked, r)
	}
	return down, acked
}

// backAndCheck restarts node down (already started if started), puts
// through it, which returns once it has applied everything before, and
// checks that every running node holds every acknowledged record at its
// number, in frames byte-identical to every other's.
func backAndCheck(t *testing.T, c *testNodes, down uint64, acked []api.PutResult) {
	t.Helper()
	acked = append(acked, putN(t, c.engs[down], "s", "after", 5)...)
	recs := c.waitSame("s", len(acked))
	have := map[uint64]bool{}
	for _, r := range recs {
		var seq uint64
		fmt.Sscanf(r, "shardId-000000000000 %d", &seq)
		have[seq] = true
	}
	for _, a := range acked {
		if !have[a.Seq.Seq] {
			t.Fatalf("acknowledged record %d is missing", a.Seq.Seq)
		}
	}
	var first []byte
	for id, e := range c.engs {
		frames := storedFrames(t, e, "s")
		if first == nil {
			first = frames
		} else if !bytes.Equal(frames, first) {
			t.Fatalf("node %d's stored frames differ from another node's (%d and %d bytes)", id, len(frames), len(first))
		}
	}
}

// storedFrames is every frame of shard 0 of stream as one node stores it.
func storedFrames(t *testing.T, e *engine.Engine, stream string) []byte {
	t.Helper()
	si, err := e.DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	next, err := e.SyncShard(si.Incarnation, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := e.ExportShard(si.Incarnation, 0, 0, next, 0, func(c engine.ShipChunk) error {
		out = append(out, c.Frames...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A node that was down while its shard's leader compacted the entries it
// missed is refilled from the leader's segments when it comes back: the
// metrics show the transfer, and it then holds every acknowledged record
// at its number, stored byte for byte as on the other nodes.
func TestShip_RefillsANodeThatWasDown(t *testing.T) {
	c := startShipNodes(t, 3)
	down, acked := downAndBehind(t, c)
	startShipNode(c, down)
	backAndCheck(t, c, down, acked)
	m := c.nodes[down].Metrics()
	if m.ShipTransfers == 0 || m.ShipBytes < 300<<10 {
		t.Fatalf("node %d refilled by %d transfers of %d bytes; want a transfer of the 300 KiB it missed", down, m.ShipTransfers, m.ShipBytes)
	}
	served := uint64(0)
	for _, nd := range c.nodes {
		served += nd.Metrics().ShipServed
	}
	if served == 0 {
		t.Fatal("no node counts a transfer served")
	}
}

// The same over mutual TLS between the nodes: the transfer's stream
// connection makes the transport's TLS handshake too.
func TestShip_RefillsOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-cluster")
	shipTLS = func(id uint64) *tls.Config {
		srv, cli := ca.Server(fmt.Sprintf("node%d", id)), ca.Client(fmt.Sprintf("node%d", id))
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), ClientCAs: ca.Pool(),
			ClientAuth: tls.RequireAndVerifyClientCert, Certificates: []tls.Certificate{srv.Cert},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cli.Cert, nil }}
	}
	t.Cleanup(func() { shipTLS = nil })
	c := startShipNodes(t, 3)
	down, acked := downAndBehind(t, c)
	startShipNode(c, down)
	backAndCheck(t, c, down, acked)
	if m := c.nodes[down].Metrics(); m.ShipTransfers == 0 {
		t.Fatalf("node %d was refilled by no transfer", down)
	}
	for id, nd := range c.nodes {
		if st := nd.tr.Stats(); st.Refused != 0 {
			t.Fatalf("node %d refused %d connections; want none between nodes of one CA", id, st.Refused)
		}
	}
}

// A chunk damaged on the way (a byte flipped in a frame, the message's own
// CRC made over the damage) is refused: the transfer fails, nothing of it
// is installed, and the next one succeeds.
func TestShip_DamagedChunkIsRefusedAndRetried(t *testing.T) {
	c := startShipNodes(t, 3)
	down, acked := downAndBehind(t, c)
	var damaged atomic.Int32
	for _, nd := range c.nodes {
		nd.ship.hooks.Store(&shipHooks{chunk: func(group uint64, ch *engine.ShipChunk) error {
			if damaged.Add(1) == 1 {
				ch.Frames[len(ch.Frames)/2] ^= 0x10
			}
			return nil
		}})
	}
	startShipNode(c, down)
	backAndCheck(t, c, down, acked)
	m := c.nodes[down].Metrics()
	if damaged.Load() == 0 || m.ShipFailures == 0 || m.ShipTransfers == 0 {
		t.Fatalf("chunks sent %d, transfers failed %d and done %d; want the damaged one refused and another done", damaged.Load(), m.ShipFailures, m.ShipTransfers)
	}
}

// A node killed in the middle of sending a transfer leaves the receiver as
// it was; the transfer is made again from another replica.
func TestShip_SenderKilledMidTransfer(t *testing.T) {
	c := startShipNodes(t, 3)
	down, acked := downAndBehind(t, c)
	midway := make(chan uint64, 1)
	var sent atomic.Int32
	for id, nd := range c.nodes {
		stop := nd.stop
		nd.ship.hooks.Store(&shipHooks{chunk: func(group uint64, ch *engine.ShipChunk) error {
			if sent.Add(1) != 3 {
				return nil
			}
			midway <- id
			<-stop // killed
			return errors.New("killed")
		}})
	}
	startShipNode(c, down)
	c.nodes[down].ship.hooks.Store(&shipHooks{chunkBytes: 16 << 10})
	var killed uint64
	select {
	case killed = <-midway:
	case <-time.After(30 * time.Second):
		t.Fatal("no transfer reached its third chunk")
	}
	have := len(records(t, c.engs[down], "s"))
	c.stop(killed)
	backAndCheck(t, c, down, acked)
	m := c.nodes[down].Metrics()
	if m.ShipFailures == 0 || m.ShipTransfers == 0 {
		t.Fatalf("transfers failed %d and done %d; want the cut one failed and another done", m.ShipFailures, m.ShipTransfers)
	}
	if have != 10 {
		t.Fatalf("node %d held %d records in the middle of the transfer; want the 10 it held before (nothing staged is visible)", down, have)
	}
	// The killed node comes back and catches up too.
	startShipNode(c, killed)
	backAndCheck(t, c, killed, acked)
}

// A node serving transfers answers requests it cannot serve with a
// refusal that says why, and hangs up on bytes that are not the protocol,
// without harm to itself.
func TestShip_HostileRequests(t *testing.T) {
	c := startNodes(t, 2)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	putN(t, c.engs[1], "s", "r", 5)
	c.waitSame("s", 5)
	si, _ := c.engs[1].DescribeStream("s")
	gid := ShardGroup(si.Incarnation, 0)
	ask := func(raw []byte) (shipMsg, error) {
		t.Helper()
		conn, err := c.nodes[1].tr.DialStream(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(raw); err != nil {
			t.Fatal(err)
		}
		sr := shipReader{r: conn}
		return sr.next()
	}
	request := func(group, from, to uint64) []byte {
		return appendShipMsg(nil, &shipMsg{Kind: shipRequest, Group: group, From: from, To: to, Window: 1, Chunk: minShipChunk}, true)
	}
	for name, tc := range map[string]struct {
		raw  []byte
		want string // in the refusal; "" for a hang-up
	}{
		"unknown group":    {request(gid+1, 0, 5), "holds no shard of group"},
		"records not held": {request(gid, 0, 50), "does not hold the records"},
		"garbage":          {[]byte("GET / HTTP/1.1\r\n\r\n"), ""},
		"huge length":      {[]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}, ""},
		"bad CRC":          {append(request(gid, 0, 5)[:4:4], append([]byte{1, 2, 3, 4}, request(gid, 0, 5)[8:]...)...), ""},
		"ack first":        {appendShipMsg(nil, &shipMsg{Kind: shipAck, Acks: 1}, true), ""},
	} {
		m, err := ask(tc.raw)
		switch {
		case tc.want == "" && !errors.Is(err, io.EOF):
			t.Fatalf("%s: the node answered %+v, %v; want it to hang up", name, m, err)
		case tc.want != "" && (err != nil || m.Kind != shipRefusal || !strings.Contains(m.Why, tc.want)):
			t.Fatalf("%s: the node answered %+v, %v; want a refusal saying %q", name, m, err, tc.want)
		}
	}
	// A good request is still served, chunk by chunk as acknowledged.
	conn, err := c.nodes[1].tr.DialStream(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(request(gid, 0, 5))
	sr := shipReader{r: conn}
	m, err := sr.next()
	if err != nil || m.Kind != shipChunk || m.C.First != 0 {
		t.Fatalf("a good request: %+v, %v; want a chunk from 0", m, err)
	}
	if next, err := engine.CheckShipChunk(m.C); err != nil || next != 5 {
		t.Fatalf("the chunk's frames end at %d, %v; want 5", next, err)
	}
	conn.Write(appendShipMsg(nil, &shipMsg{Kind: shipAck, Acks: 1}, true))
	if m, err := sr.next(); err != nil || m.Kind != shipEnd || m.Next != 5 {
		t.Fatalf("after the chunk: %+v, %v; want the end at 5", m, err)
	}
	putN(t, c.engs[2], "s", "after", 5)
	c.waitSame("s", 10)
}
