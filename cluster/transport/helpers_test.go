package transport

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// waitTimeout bounds every wait of the tests: long enough for a loaded
// machine under the race detector, short enough to fail fast.
const waitTimeout = 10 * time.Second

// recorder is a cluster.Receiver that keeps everything it is handed and
// wakes waiters on every change.
type recorder struct {
	mu          sync.Mutex
	batches     map[uint64][][]cluster.Envelope // by sender, in arrival order
	unreachable map[uint64]int
	snaps       []snapReport
	changed     chan struct{} // cap 1
	gate        chan struct{} // when not nil, Receive waits for it to close
}

type snapReport struct {
	group, node uint64
	ok          bool
}

func newRecorder() *recorder {
	return &recorder{
		batches:     map[uint64][][]cluster.Envelope{},
		unreachable: map[uint64]int{},
		changed:     make(chan struct{}, 1),
	}
}

func (r *recorder) Receive(from uint64, batch []cluster.Envelope) {
	r.mu.Lock()
	gate := r.gate
	r.batches[from] = append(r.batches[from], batch)
	r.mu.Unlock()
	r.signal()
	if gate != nil {
		<-gate
	}
}

func (r *recorder) Unreachable(node uint64) {
	r.mu.Lock()
	r.unreachable[node]++
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) SnapshotStatus(group, node uint64, ok bool) {
	r.mu.Lock()
	r.snaps = append(r.snaps, snapReport{group, node, ok})
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// msgs returns the envelopes received from node from, in order.
func (r *recorder) msgs(from uint64) []*cluster.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*cluster.Envelope
	for _, b := range r.batches[from] {
		for i := range b {
			out = append(out, &b[i])
		}
	}
	return out
}

func (r *recorder) count(from uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches[from] {
		n += len(b)
	}
	return n
}

func (r *recorder) unreachableCount(node uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[node]
}

func (r *recorder) snapReports() []snapReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]snapReport(nil), r.snaps...)
}

// waitFor waits until cond holds, checking it on every change the
// recorder sees, and fails the test after waitTimeout.
func (r *recorder) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// pollUntil checks cond every few milliseconds until it holds, for
// conditions nothing signals (a transport's counters), and fails the test
// after waitTimeout.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// logBuf collects a transport's log lines.
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{}, 1)} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the log holds every one of parts on one line.
func (l *logBuf) waitFor(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		for line := range strings.SplitSeq(l.String(), "\n") {
			all := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					all = false
					break
				}
			}
			if all {
				return
			}
		}
		select {
		case <-l.changed:
		case <-deadline.C:
			t.Fatalf("no log line has all of %q; the log:\n%s", parts, l.String())
		}
	}
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// node is a transport under test with its receiver and log.
type node struct {
	id   uint64
	tr   *Transport
	rec  *recorder
	log  *logBuf
	addr string
}

// testCluster is the cluster id of the tests.
const testCluster = 0x51c3

// listen opens a loopback listener.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// deadAddr returns a loopback address nothing listens on (it was
// listened on and closed).
func deadAddr(t testing.TB) string {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fastBackoff keeps the tests' dial retries quick.
func fastBackoff(c *Config) {
	c.BackoffMin = 2 * time.Millisecond
	c.BackoffMax = 20 * time.Millisecond
}

// startNode starts node id on ln with the given peers; mod, if not nil,
// changes the config first.
func startNode(t testing.TB, id uint64, ln net.Listener, peers map[uint64]string, mod func(*Config)) *node {
	t.Helper()
	n := &node{id: id, rec: newRecorder(), log: newLogBuf(), addr: ln.Addr().String()}
	cfg := Config{
		NodeID: id, ClusterID: testCluster, Listener: ln, Peers: peers,
		Receiver: n.rec, Logger: n.log.logger(),
	}
	fastBackoff(&cfg)
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	n.tr = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

// startCluster starts k nodes, ids 1..k, each with all the others as
// peers.
func startCluster(t testing.TB, k int, mod func(*Config)) []*node {
	t.Helper()
	lns := make([]net.Listener, k)
	peers := map[uint64]string{}
	for i := range lns {
		lns[i] = listen(t)
		peers[uint64(i+1)] = lns[i].Addr().String()
	}
	nodes := make([]*node, k)
	for i := range nodes {
		nodes[i] = startNode(t, uint64(i+1), lns[i], peers, mod)
	}
	return nodes
}

// fill makes m a message of type typ from node from to node to whose
// Index is index (the tests' sequence number) and which carries data, in
// an entry or as a MsgSnap's snapshot, when data is not nil.
func fill(m *raftpb.Message, typ raftpb.MessageType, from, to, index uint64, data []byte) {
	m.Type, m.From, m.To, m.Term, m.Index, m.Commit = typ.Enum(), new(from), new(to), new(uint64(3)), new(index), new(index/2)
	switch {
	case typ == raftpb.MsgSnap:
		m.Snapshot = &raftpb.Snapshot{Data: data, Metadata: raftpb.EnsureSnapshotMetadata(&raftpb.SnapshotMetadata{Index: new(index), Term: new(uint64(3))})}
	case data != nil:
		m.Entries = []*raftpb.Entry{{Term: new(uint64(3)), Index: new(index + 1), Type: raftpb.EntryNormal.Enum(), Data: data}}
	}
}

// env makes a one-envelope batch.
func env(group uint64, typ raftpb.MessageType, from, to, index uint64, data []byte) []cluster.Envelope {
	b := make([]cluster.Envelope, 1)
	b[0].Group = group
	fill(&b[0].Msg, typ, from, to, index, data)
	return b
}

// gatedDial wraps the default dialer: the connections it makes block
// their second write (the first frame after the hello) until release is
// closed, and say so on entered.
type gatedDial struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGatedDial() *gatedDial {
	return &gatedDial{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gatedDial) open() { g.once.Do(func() { close(g.release) }) }

func (g *gatedDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

type gatedConn struct {
	net.Conn
	g      *gatedDial
	writes int
}

func (c *gatedConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes == 2 {
		c.g.entered <- struct{}{}
		<-c.g.release
	}
	return c.Conn.Write(b)
}
