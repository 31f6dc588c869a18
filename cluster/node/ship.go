package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/engine"
)

// Segment shipping. A shard's leader keeps KeepForFollowers entries of its
// Raft log for followers behind; a follower further behind (it was down
// while the log was compacted) is sent a Raft snapshot, which names only
// the sequence number after the shard's last record. Such a follower
// lacks records, and no Raft entry holds them any more: it fetches them
// from a node that has them, as the frames of that node's segment files,
// and only then lets Raft take the snapshot.
//
// The snapshot message (MsgSnap) is held back on its way from the
// transport to the host (shipReceiver), as CockroachDB streams a
// snapshot's data before it steps the snapshot's header into Raft: Raft
// on this node never sees a snapshot whose records the shard does not
// hold, so the host's scheduler never waits for a transfer, Restore finds
// the records in place, and the group's later entries are applied after
// them. Meanwhile the leader, which hears of no progress, sends the
// snapshot again now and then; the newest one held is the one stepped in
// once the records are installed.
//
// A transfer (fetch) asks the leader that sent the snapshot, then each
// other replica, over a transport stream connection (its own TCP
// connection, mutual TLS when configured), for the records from the
// shard's next sequence number to the snapshot's, and receives them as
// chunks of the holder's segment frames with flow control (shipwire.go).
// Every chunk is checked (its message CRC, then every frame's CRC and
// sequence number) and staged in a scratch file under DATA_DIR/ship; a
// transfer that breaks off, or brings one bad chunk, is dropped whole and
// tried again from the next node, and the shard is as it was. Once the
// whole range is staged, the engine installs it (engine.InstallShard):
// written after the shard's last record, synced, and only then visible to
// readers.

// Shipping settings.
const (
	// shipChunkBytes is the frames in one chunk: 1 MiB.
	shipChunkBytes = 1 << 20
	// shipWindow is the chunks in flight on a transfer: 4 MiB.
	shipWindow = 4
	// shipIdle bounds the wait for the next message of a transfer, and
	// one write of a message.
	shipIdle = 30 * time.Second
	// shipRetryMin and shipRetryMax bound the pause after a round of
	// transfers that all failed, doubling from one to the other.
	shipRetryMin = 100 * time.Millisecond
	shipRetryMax = 5 * time.Second
	// shipDirName is the scratch directory under DATA_DIR.
	shipDirName = "ship"
)

// shipState is what a node knows of its transfers.
type shipState struct {
	mu     sync.Mutex          // guards jobs and closed
	jobs   map[uint64]*shipJob // by group: a held snapshot, and a goroutine fetching its records
	closed bool                // Close began: no new job starts
	wg     sync.WaitGroup      // the jobs' goroutines

	// Counters, for Metrics: transfers that installed records, their
	// frames' bytes, transfers that failed (each source tried counts),
	// and transfers this node served to others.
	transfers, bytes, failures, served atomic.Uint64

	// hooks are the tests' fault hooks; nil in production.
	hooks atomic.Pointer[shipHooks]
}

// shipHooks let tests damage or cut what a node sends.
type shipHooks struct {
	// chunk is called by a sending node with a copy of each chunk before
	// it goes out; it may change the copy's bytes, and an error ends the
	// transfer as if the node died (the connection is cut).
	chunk func(group uint64, c *engine.ShipChunk) error
	// chunkBytes, when not 0, is the chunk size a receiving node asks for.
	chunkBytes uint32
}

// shipJob is a shard snapshot held back until its records are here.
type shipJob struct {
	group uint64
	from  uint64            // the node that sent env
	env   *cluster.Envelope // the newest snapshot message held (guarded by shipState.mu)
}

// close stops new jobs and waits for those running, which end once
// n.stop is closed.
func (s *shipState) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// shipReceiver is the node seen as its transport's Receiver: it holds back
// the shard snapshots that need records shipped and hands everything else
// to the host.
type shipReceiver Node

var _ cluster.Receiver = (*shipReceiver)(nil)

func (r *shipReceiver) Receive(from uint64, batch []cluster.Envelope) {
	n := (*Node)(r)
	var out []cluster.Envelope // nil while nothing is held back
	for i := range batch {
		e := &batch[i]
		if e.Msg.GetType() == raftpb.MsgSnap && e.Group != cluster.ControllerGroup && shardSnapshotOK(e.Msg.GetSnapshot().GetData()) {
			if n.holdSnapshot(from, e) {
				if out == nil {
					out = make([]cluster.Envelope, 0, len(batch))
					for k := range batch[:i] {
						out = append(out, moveEnvelope(&batch[k]))
					}
				}
				continue
			}
		}
		if out != nil {
			out = append(out, moveEnvelope(e))
		}
	}
	switch {
	case out == nil:
		n.host.Receive(from, batch)
	case len(out) > 0:
		n.host.Receive(from, out)
	}
}

// moveEnvelope returns e's message in a new envelope; the message's fields
// are shared, not copied (the batch is the receiver's, and nothing changes
// it).
func moveEnvelope(e *cluster.Envelope) cluster.Envelope {
	m := &e.Msg
	return cluster.Envelope{Group: e.Group, Msg: raftpb.Message{
		Type: m.Type, To: m.To, From: m.From, Term: m.Term, LogTerm: m.LogTerm,
		Index: m.Index, Entries: m.Entries, Commit: m.Commit, Vote: m.Vote,
		Snapshot: m.Snapshot, Reject: m.Reject, RejectHint: m.RejectHint,
		Context: m.Context, Responses: m.Responses,
	}}
}

func (r *shipReceiver) Unreachable(node uint64) { (*Node)(r).host.Unreachable(node) }

func (r *shipReceiver) SnapshotStatus(group, node uint64, ok bool) {
	(*Node)(r).host.SnapshotStatus(group, node, ok)
}

// holdSnapshot takes a shard snapshot message off the way to the host and
// has a job check that the shard holds its records first, fetching them if
// not. It returns false if the message should go on as it is (the node is
// closing).
func (n *Node) holdSnapshot(from uint64, e *cluster.Envelope) bool {
	s := &n.ship
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if j := s.jobs[e.Group]; j != nil {
		if m := e.Msg.GetSnapshot().GetMetadata(); m.GetIndex() >= j.env.Msg.GetSnapshot().GetMetadata().GetIndex() {
			j.env, j.from = e, from
		}
		return true
	}
	if s.jobs == nil {
		s.jobs = map[uint64]*shipJob{}
	}
	j := &shipJob{group: e.Group, from: from, env: e}
	s.jobs[e.Group] = j
	s.wg.Add(1)
	go n.shipLoop(j)
	return true
}

// shipLoop runs a job: until the shard holds the records of the newest
// snapshot held, it fetches the missing ones from the sources in turn,
// pausing between rounds that all failed; then it steps that snapshot
// into the host and ends. It gives up when the node closes.
func (n *Node) shipLoop(j *shipJob) {
	s := &n.ship
	defer s.wg.Done()
	pause := shipRetryMin
	for {
		s.mu.Lock()
		env, from := j.env, j.from
		s.mu.Unlock()
		next, _, _, _ := decodeShardSnapshot(env.Msg.GetSnapshot().GetData()) // checked by Receive
		n.mu.Lock()
		g := n.groups[j.group]
		n.mu.Unlock()
		var err error
		if g != nil {
			err = n.refill(g, from, next)
		}
		// A group this node does not hold (not yet started, or gone) has
		// no shard here to fill: the host judges the snapshot as it
		// would have.
		if err == nil {
			s.mu.Lock()
			same := j.env.Msg.GetSnapshot().GetMetadata().GetIndex() == env.Msg.GetSnapshot().GetMetadata().GetIndex()
			if same {
				delete(s.jobs, j.group)
			}
			s.mu.Unlock()
			if same {
				n.host.Receive(from, []cluster.Envelope{moveEnvelope(env)})
				return
			}
			continue // a newer snapshot came meanwhile
		}
		if n.stopping() {
			s.mu.Lock()
			delete(s.jobs, j.group)
			s.mu.Unlock()
			return
		}
		n.log.Warn("could not fetch a shard's records for its snapshot; trying again", "group", j.group, "records_to", next, "pause", pause, "err", err)
		select {
		case <-n.stop:
		case <-time.After(pause):
		}
		pause = min(2*pause, shipRetryMax)
	}
}

func (n *Node) stopping() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// refill makes the shard of g hold its records up to next, fetching what
// it lacks from leader, then from g's other replicas in turn.
func (n *Node) refill(g *shardGroup, leader, next uint64) error {
	have, err := n.eng.SyncShard(g.inc, g.index)
	if err != nil {
		return err
	}
	if have >= next {
		return nil
	}
	sources := []uint64{leader}
	for _, r := range g.replicas {
		if r != n.cfg.NodeID && r != leader {
			sources = append(sources, r)
		}
	}
	var errs []error
	for _, src := range sources {
		if n.stopping() {
			return errors.Join(append(errs, errors.New("the node is closing"))...)
		}
		err := n.fetch(g, src, have, next)
		if err == nil {
			return nil
		}
		n.ship.failures.Add(1)
		n.log.Warn("a transfer of a shard's segments failed", "group", g.id, "from_node", src, "records", fmt.Sprintf("[%d, %d)", have, next), "err", err)
		errs = append(errs, fmt.Errorf("from node %d: %w", src, err))
	}
	return errors.Join(errs...)
}

// fetch transfers the records [from, to) of g's shard from node src,
// staging the checked chunks, and installs them once all are here.
func (n *Node) fetch(g *shardGroup, src, from, to uint64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := n.cancelOnStop(cancel)
	defer stop()
	conn, err := n.tr.DialStream(ctx, src)
	if err != nil {
		return err
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() }) // a transfer blocked in a read or write ends with the node

	dir := filepath.Join(n.cfg.DataDir, shipDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make the shipping directory: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%d.stage", g.id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("stage a transfer: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	bw := bufio.NewWriterSize(f, shipChunkBytes)

	var buf []byte
	req := shipMsg{Kind: shipRequest, Group: g.id, From: from, To: to, Window: shipWindow, Chunk: shipChunkBytes}
	if h := n.ship.hooks.Load(); h != nil && h.chunkBytes > 0 {
		req.Chunk = h.chunkBytes
	}
	conn.SetWriteDeadline(time.Now().Add(shipIdle))
	if buf, err = writeShipMsg(conn, buf, &req); err != nil {
		return fmt.Errorf("send the request: %w", err)
	}
	sr := shipReader{r: bufio.NewReaderSize(conn, shipReadStep)}
	expect, bytes := from, uint64(0)
	for expect < to {
		conn.SetReadDeadline(time.Now().Add(shipIdle))
		m, err := sr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the node hung up after the records up to %d of [%d, %d)", expect, from, to)
			}
			return err
		}
		switch m.Kind {
		case shipChunk:
		case shipRefusal:
			return fmt.Errorf("node %d refused: %s", src, m.Why)
		default:
			return fmt.Errorf("%w: a %q message in the middle of a transfer", errShipProtocol, m.Kind)
		}
		if m.C.First != expect {
			return fmt.Errorf("%w: a chunk from %d where the records from %d were due", errShipProtocol, m.C.First, expect)
		}
		cnext, err := engine.CheckShipChunk(m.C)
		if err != nil {
			return fmt.Errorf("a chunk refused: %w", err)
		}
		if cnext > to {
			return fmt.Errorf("%w: a chunk of the records [%d, %d) past the %d asked for", errShipProtocol, m.C.First, cnext, to)
		}
		bw.Write(sr.hdr[:]) // the message's length and CRC, checked again on the way out
		if _, err := bw.Write(sr.buf); err != nil {
			return fmt.Errorf("stage a chunk: %w", err)
		}
		expect, bytes = cnext, bytes+uint64(len(m.C.Frames))
		conn.SetWriteDeadline(time.Now().Add(shipIdle))
		if buf, err = writeShipMsg(conn, buf, &shipMsg{Kind: shipAck, Acks: 1}); err != nil {
			return fmt.Errorf("acknowledge a chunk: %w", err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(shipIdle))
	if m, err := sr.next(); err != nil || m.Kind != shipEnd || m.Next != to {
		return fmt.Errorf("%w: the transfer of [%d, %d) did not end with its end (%v, %q)", errShipProtocol, from, to, err, m.Kind)
	}
	conn.Close() // the holder waits for it
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("stage a chunk: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, shipChunkBytes)
	next, err := n.eng.InstallShard(g.inc, g.index, func(yield func(engine.ShipChunk) error) error {
		staged := shipReader{r: br}
		for {
			m, err := staged.next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read the staged chunks: %w", err)
			}
			if err := yield(m.C); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("install the records [%d, %d): %w", from, to, err)
	}
	n.ship.transfers.Add(1)
	n.ship.bytes.Add(bytes)
	n.log.Info("refilled a shard's replica from another node's segments", "group", g.id, "from_node", src,
		"records", fmt.Sprintf("[%d, %d)", from, to), "bytes", bytes, "next", next)
	return nil
}

// cancelOnStop calls fn when the node stops, unless the returned func was
// called first.
func (n *Node) cancelOnStop(fn func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-n.stop:
			fn()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// serveShip serves a transfer asked for on a stream connection from node
// from (transport.Config.Streams): the records of the request's range, in
// chunks, at most the request's window of them unacknowledged.
func (n *Node) serveShip(from uint64, conn net.Conn) {
	// A transfer blocked in a read or write ends with the node.
	stop := n.cancelOnStop(func() { conn.Close() })
	defer stop()
	log := n.log.With("to_node", from)
	sr := shipReader{r: bufio.NewReaderSize(conn, shipReadStep)}
	conn.SetReadDeadline(time.Now().Add(shipIdle))
	req, err := sr.next()
	if err == nil && req.Kind != shipRequest {
		err = fmt.Errorf("%w: a %q message where a request was due", errShipProtocol, req.Kind)
	}
	if err != nil {
		log.Warn("a transfer's request is bad; hanging up", "err", err)
		return
	}
	var buf []byte
	refuse := func(why error) {
		log.Info("refused a transfer of a shard's segments", "group", req.Group, "records", fmt.Sprintf("[%d, %d)", req.From, req.To), "err", why)
		conn.SetWriteDeadline(time.Now().Add(shipIdle))
		writeShipMsg(conn, buf, &shipMsg{Kind: shipRefusal, Why: why.Error()})
	}
	n.mu.Lock()
	g := n.groups[req.Group]
	n.mu.Unlock()
	if g == nil || n.eng == nil {
		refuse(fmt.Errorf("node %d holds no shard of group %d", n.cfg.NodeID, req.Group))
		return
	}
	hooks := n.ship.hooks.Load()
	inflight := uint32(0)
	var copyBuf []byte
	err = n.eng.ExportShard(g.inc, g.index, req.From, req.To, int(req.Chunk), func(c engine.ShipChunk) error {
		if hooks != nil && hooks.chunk != nil {
			copyBuf = append(copyBuf[:0], c.Frames...)
			c.Frames = copyBuf
			if err := hooks.chunk(req.Group, &c); err != nil {
				return &cutError{err}
			}
		}
		for inflight >= req.Window {
			conn.SetReadDeadline(time.Now().Add(shipIdle))
			m, err := sr.next()
			if err != nil {
				return &cutError{err}
			}
			if m.Kind != shipAck || m.Acks > inflight {
				return &cutError{fmt.Errorf("%w: a %q message (acknowledging %d of %d chunks) where an acknowledgement was due", errShipProtocol, m.Kind, m.Acks, inflight)}
			}
			inflight -= m.Acks
		}
		conn.SetWriteDeadline(time.Now().Add(shipIdle))
		var err error
		if buf, err = writeShipMsg(conn, buf, &shipMsg{Kind: shipChunk, C: c}); err != nil {
			return &cutError{err}
		}
		inflight++
		return nil
	})
	var cut *cutError
	switch {
	case errors.As(err, &cut):
		log.Warn("a transfer of a shard's segments broke off", "group", req.Group, "err", cut.err)
		return
	case err != nil:
		refuse(err)
		return
	}
	conn.SetWriteDeadline(time.Now().Add(shipIdle))
	if _, err := writeShipMsg(conn, buf, &shipMsg{Kind: shipEnd, Next: req.To}); err != nil {
		log.Warn("a transfer of a shard's segments broke off at its end", "group", req.Group, "err", err)
		return
	}
	// The asker hangs up once it has the end; its last acknowledgements
	// are read and dropped meanwhile.
	conn.SetReadDeadline(time.Now().Add(shipIdle))
	io.Copy(io.Discard, conn)
	n.ship.served.Add(1)
}

// cutError is a failure of the connection during a transfer: nothing more
// is sent on it.
type cutError struct{ err error }

func (e *cutError) Error() string { return e.err.Error() }
