// Package faultnet is an in-memory network of cluster transports with faults
// chosen at run time: dropped, delayed, duplicated and reordered messages,
// partitions, isolated nodes and frozen nodes. Every random choice comes from
// one generator seeded by New, so a run is repeatable as far as the order in
// which goroutines call Send allows; a test logs the seed and reruns a
// failing one with it.
//
// Messages are cloned on Send, as a real transport would marshal them, so no
// two nodes ever share a message's memory. Each node has one delivery
// goroutine that hands it, in due order, batches of the envelopes from one
// sender (many messages to one Receive), and the transport's callbacks
// (Unreachable, SnapshotStatus).
package faultnet

import (
	"container/heap"
	"math/rand"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
)

// Faults are the random faults applied to every message. The zero value
// delivers every message once, at once, in order.
type Faults struct {
	// Drop is the probability in [0, 1] that a message is lost.
	Drop float64
	// Duplicate is the probability that a delivered message arrives twice.
	Duplicate float64
	// Reorder is the probability that a message is held back by a random
	// extra delay of up to ReorderWindow, so later ones overtake it.
	Reorder float64
	// ReorderWindow bounds the extra delay of a reordered message; zero
	// means 2 ms.
	ReorderWindow time.Duration
	// DelayMin and DelayMax bound the delay of every message, drawn
	// uniformly; both zero means no delay.
	DelayMin, DelayMax time.Duration
}

// Stats counts what the network did with the messages it was given.
type Stats struct {
	Sent       uint64 // envelopes handed to Send
	Delivered  uint64 // envelopes handed to a Receive (duplicates count twice)
	Dropped    uint64 // lost to Drop, a partition, a stopped sender or an absent receiver
	Duplicated uint64
}

// Network connects the transports of the nodes that joined it.
type Network struct {
	seed int64

	mu        sync.Mutex // guards every field below
	rng       *rand.Rand
	faults    Faults
	endpoints map[uint64]*endpoint
	partition map[uint64]int // node → side; nil means no partition
	stopped   map[uint64]bool
	stats     Stats
	seq       uint64
	busy      int        // deliveries being handed to receivers right now
	idle      *sync.Cond // broadcast whenever a queue empties or a delivery ends
}

// New returns a network whose random choices all come from seed.
func New(seed int64) *Network {
	n := &Network{
		seed:      seed,
		rng:       rand.New(rand.NewSource(seed)),
		endpoints: make(map[uint64]*endpoint),
		stopped:   make(map[uint64]bool),
	}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// Seed returns the seed the network was made with.
func (n *Network) Seed() int64 { return n.seed }

// SetFaults replaces the random faults applied from now on.
func (n *Network) SetFaults(f Faults) {
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// Partition splits the nodes into the given sides: a message crosses only
// between nodes of the same side. A node named in no side is cut off from
// every other node. A partition replaces the previous one.
func (n *Network) Partition(sides ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partition = make(map[uint64]int)
	for i, side := range sides {
		for _, node := range side {
			n.partition[node] = i + 1
		}
	}
}

// Isolate cuts node off from every other node; the others still reach each
// other.
func (n *Network) Isolate(node uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.partition == nil {
		n.partition = make(map[uint64]int)
		for id := range n.endpoints {
			n.partition[id] = 1
		}
	}
	n.partition[node] = -int(node) // a side of its own
}

// Heal removes every partition and isolation (not the random faults, and
// stopped nodes stay stopped).
func (n *Network) Heal() {
	n.mu.Lock()
	n.partition = nil
	n.mu.Unlock()
}

// Stop freezes node as SIGSTOP would its process: messages to it queue
// until Resume, and whatever it sends meanwhile is lost.
func (n *Network) Stop(node uint64) {
	n.mu.Lock()
	n.stopped[node] = true
	n.mu.Unlock()
}

// Resume delivers what queued for a stopped node and lets it send again.
func (n *Network) Resume(node uint64) {
	n.mu.Lock()
	delete(n.stopped, node)
	ep := n.endpoints[node]
	n.mu.Unlock()
	if ep != nil {
		ep.poke()
	}
}

// Stats returns the counts so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// WaitIdle blocks until no message or callback is queued for, or being
// handed to, a node that is not stopped. Delayed messages are waited for.
func (n *Network) WaitIdle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for !n.idleLocked() {
		n.idle.Wait()
	}
}

func (n *Network) idleLocked() bool {
	if n.busy > 0 {
		return false
	}
	for id, ep := range n.endpoints {
		if len(ep.queue) > 0 && !n.stopped[id] {
			return false
		}
	}
	return true
}

// Join connects node to the network; r receives what is sent to it. A node
// that joins again (after its transport was closed, as a restarted process
// would) replaces its previous endpoint.
func (n *Network) Join(node uint64, r cluster.Receiver) *Transport {
	ep := &endpoint{
		net:  n,
		id:   node,
		recv: r,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	n.mu.Lock()
	if old := n.endpoints[node]; old != nil {
		old.closeLocked()
	}
	n.endpoints[node] = ep
	if n.partition != nil {
		if _, ok := n.partition[node]; !ok {
			n.partition[node] = 1 // joins the first side, as Isolate placed the others
		}
	}
	n.mu.Unlock()
	go ep.deliverLoop()
	return &Transport{ep: ep}
}

// Transport is one node's view of the network. It implements
// cluster.Transport.
type Transport struct {
	ep *endpoint
}

var _ cluster.Transport = (*Transport)(nil)

// Send queues every envelope for its node, applying the network's faults.
func (t *Transport) Send(batch []cluster.Envelope) {
	n := t.ep.net
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	from := t.ep.id
	for i := range batch {
		m := &batch[i].Msg
		group := batch[i].Group
		to := m.GetTo()
		n.stats.Sent++
		isSnap := m.GetType() == raftpb.MsgSnap
		fail := func(unreachable bool) {
			n.stats.Dropped++
			if isSnap {
				t.ep.pushLocked(event{kind: evSnapStatus, group: group, node: to, due: now})
			}
			if unreachable {
				t.ep.pushUnreachableLocked(to, now)
			}
		}
		if t.ep.closed || n.stopped[from] {
			n.stats.Dropped++ // a frozen or closed node sends nothing
			continue
		}
		dst := n.endpoints[to]
		if dst == nil || dst.closed {
			fail(true)
			continue
		}
		if n.partition != nil && n.partition[from] != n.partition[to] {
			fail(true)
			continue
		}
		f := n.faults
		if f.Drop > 0 && n.rng.Float64() < f.Drop {
			fail(false)
			continue
		}
		copies := 1
		if f.Duplicate > 0 && n.rng.Float64() < f.Duplicate {
			copies = 2
			n.stats.Duplicated++
		}
		for c := 0; c < copies; c++ {
			due := now.Add(n.delayLocked())
			env := clone(group, m)
			// Only the first copy of a snapshot reports its delivery.
			dst.pushLocked(event{kind: evMsg, from: from, env: env, due: due, snap: isSnap && c == 0})
		}
	}
}

func (n *Network) delayLocked() time.Duration {
	f := n.faults
	var d time.Duration
	if f.DelayMax > 0 {
		d = f.DelayMin
		if f.DelayMax > f.DelayMin {
			d += time.Duration(n.rng.Int63n(int64(f.DelayMax - f.DelayMin)))
		}
	}
	if f.Reorder > 0 && n.rng.Float64() < f.Reorder {
		w := f.ReorderWindow
		if w <= 0 {
			w = 2 * time.Millisecond
		}
		d += time.Duration(n.rng.Int63n(int64(w)))
	}
	return d
}

// Close disconnects the node: what was queued for it is lost (a snapshot
// among it is reported failed to its sender) and messages sent to it from
// now on are dropped and reported unreachable.
func (t *Transport) Close() error {
	n := t.ep.net
	n.mu.Lock()
	t.ep.closeLocked()
	n.mu.Unlock()
	<-t.ep.done
	return nil
}

// clone copies a message as a marshal and unmarshal would, so the receiver
// shares no memory with the sender.
func clone(group uint64, m *raftpb.Message) *cluster.Envelope {
	c := proto.Clone(m).(*raftpb.Message)
	return &cluster.Envelope{Group: group, Msg: raftpb.Message{
		Type: c.Type, To: c.To, From: c.From, Term: c.Term, LogTerm: c.LogTerm,
		Index: c.Index, Entries: c.Entries, Commit: c.Commit, Vote: c.Vote,
		Snapshot: c.Snapshot, Reject: c.Reject, RejectHint: c.RejectHint,
		Context: c.Context, Responses: c.Responses,
	}}
}

type eventKind uint8

const (
	evMsg eventKind = iota
	evUnreachable
	evSnapStatus // a snapshot that was not delivered; ok ones are reported after delivery
	evSnapOK
)

type event struct {
	kind  eventKind
	due   time.Time
	seq   uint64
	from  uint64 // evMsg
	env   *cluster.Envelope
	snap  bool   // evMsg carrying a snapshot whose delivery the sender waits to hear of
	group uint64 // evSnapStatus, evSnapOK
	node  uint64 // evUnreachable, evSnapStatus, evSnapOK
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = event{}
	*q = old[:len(old)-1]
	return e
}

type endpoint struct {
	net  *Network
	id   uint64
	recv cluster.Receiver
	wake chan struct{} // poked when the queue gains an event or the node resumes
	done chan struct{} // closed when deliverLoop returns

	// Guarded by net.mu:
	queue       eventQueue
	unreachable map[uint64]bool // nodes with an Unreachable already queued
	closed      bool
}

func (ep *endpoint) poke() {
	select {
	case ep.wake <- struct{}{}:
	default:
	}
}

func (ep *endpoint) pushLocked(e event) {
	if ep.closed {
		return
	}
	ep.net.seq++
	e.seq = ep.net.seq
	heap.Push(&ep.queue, e)
	ep.poke()
}

// pushUnreachableLocked queues one Unreachable for node unless one is queued
// already: a partition would otherwise report every message.
func (ep *endpoint) pushUnreachableLocked(node uint64, now time.Time) {
	if ep.unreachable[node] {
		return
	}
	if ep.unreachable == nil {
		ep.unreachable = make(map[uint64]bool)
	}
	ep.unreachable[node] = true
	ep.pushLocked(event{kind: evUnreachable, node: node, due: now})
}

func (ep *endpoint) closeLocked() {
	if ep.closed {
		return
	}
	now := time.Now()
	for _, e := range ep.queue {
		if e.kind == evMsg && e.snap {
			if src := ep.net.endpoints[e.from]; src != nil {
				src.pushLocked(event{kind: evSnapStatus, group: e.env.Group, node: ep.id, due: now})
			}
		}
	}
	ep.queue = nil
	ep.closed = true
	ep.poke()
	ep.net.idle.Broadcast()
}

// deliverLoop hands the node its due events in (due, seq) order. While the
// node is stopped it delivers nothing. Messages due together are grouped
// into one Receive per sender, in order; callbacks go out in queue order
// between them. It returns when the endpoint is closed.
func (ep *endpoint) deliverLoop() {
	defer close(ep.done)
	n := ep.net
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		if ep.closed {
			n.mu.Unlock()
			return
		}
		var due []event
		var wait time.Duration = -1
		if !n.stopped[ep.id] {
			now := time.Now()
			for len(ep.queue) > 0 {
				if ep.queue[0].due.After(now) {
					wait = ep.queue[0].due.Sub(now)
					break
				}
				e := heap.Pop(&ep.queue).(event)
				if e.kind == evUnreachable {
					delete(ep.unreachable, e.node)
				}
				due = append(due, e)
			}
		}
		if len(due) > 0 {
			n.busy++
		} else {
			n.idle.Broadcast()
		}
		n.mu.Unlock()

		if len(due) > 0 {
			ep.deliver(due)
			n.mu.Lock()
			n.busy--
			n.idle.Broadcast()
			n.mu.Unlock()
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
			select {
			case <-ep.wake:
				if !timer.Stop() {
					<-timer.C
				}
			case <-timer.C:
			}
		} else {
			<-ep.wake
		}
	}
}

func (ep *endpoint) deliver(due []event) {
	n := ep.net
	for i := 0; i < len(due); {
		e := due[i]
		if e.kind != evMsg {
			switch e.kind {
			case evUnreachable:
				ep.recv.Unreachable(e.node)
			case evSnapStatus:
				ep.recv.SnapshotStatus(e.group, e.node, false)
			case evSnapOK:
				ep.recv.SnapshotStatus(e.group, e.node, true)
			}
			i++
			continue
		}
		// A run of messages from one sender becomes one batch.
		j := i
		batch := make([]cluster.Envelope, 0, 4)
		var snaps []event
		for j < len(due) && due[j].kind == evMsg && due[j].from == e.from {
			env := due[j].env
			batch = append(batch, cluster.Envelope{Group: env.Group, Msg: raftpb.Message{
				Type: env.Msg.Type, To: env.Msg.To, From: env.Msg.From, Term: env.Msg.Term,
				LogTerm: env.Msg.LogTerm, Index: env.Msg.Index, Entries: env.Msg.Entries,
				Commit: env.Msg.Commit, Vote: env.Msg.Vote, Snapshot: env.Msg.Snapshot,
				Reject: env.Msg.Reject, RejectHint: env.Msg.RejectHint, Context: env.Msg.Context,
				Responses: env.Msg.Responses,
			}})
			if due[j].snap {
				snaps = append(snaps, due[j])
			}
			j++
		}
		ep.recv.Receive(e.from, batch)
		n.mu.Lock()
		n.stats.Delivered += uint64(len(batch))
		for _, s := range snaps {
			if src := n.endpoints[s.from]; src != nil {
				src.pushLocked(event{kind: evSnapOK, group: s.env.Group, node: ep.id, due: time.Now()})
			}
		}
		n.mu.Unlock()
		i = j
	}
}
