package multiraft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// Host runs every Raft group of one node with one scheduler goroutine. It
// implements cluster.Receiver.
type Host struct {
	cfg      Config
	id       uint64
	store    cluster.Store
	sm       StateMachine
	log      *slog.Logger
	rlog     *raftLogger
	ticker   Ticker
	counters *counters

	transport atomic.Pointer[transportBox]

	propBase uint64        // random start of this host's proposal ids
	propSeq  atomic.Uint64 // proposal ids are propBase + propSeq

	mu     sync.Mutex // guards in and closed
	in     inbox
	closed bool
	wake   chan struct{} // poked (capacity 1) when in gains work
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the scheduler has returned
	errMu  sync.Mutex    // guards err
	err    error         // why the scheduler stopped, if it failed

	leadersMu sync.Mutex        // guards leaders
	leaders   map[uint64]uint64 // group → term, for groups this node leads

	s scheduler // owned by the scheduler goroutine
}

type transportBox struct{ t cluster.Transport }

// inbox is the work handed to the scheduler by other goroutines.
type inbox struct {
	msgs        []inboundBatch
	props       []*proposal
	adds        []*addRequest
	reqs        []*request
	unreachable map[uint64]bool
	down        map[uint64]bool
	snaps       []snapStatus
}

type inboundBatch struct {
	from  uint64
	batch []cluster.Envelope
}

type snapStatus struct {
	group, node uint64
	ok          bool
}

type addRequest struct {
	id              uint64
	peers, learners []uint64
	err             error
	done            chan struct{}
}

// request is a function run by the scheduler between rounds' steps; done is
// closed after the round it ran in has finished (and, with settle, once a
// round leaves no group with a pending Ready).
type request struct {
	fn     func()
	settle bool
	done   chan struct{}
}

// New starts a host. It runs no group until AddGroup.
func New(cfg Config) (*Host, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:      c,
		id:       c.NodeID,
		store:    c.Store,
		sm:       c.StateMachine,
		log:      c.Logger.With("node", c.NodeID),
		counters: newCounters(),
		propBase: rand.Uint64(),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		leaders:  make(map[uint64]uint64),
	}
	h.rlog = &raftLogger{log: h.log}
	if c.Transport != nil {
		h.SetTransport(c.Transport)
	}
	h.ticker = c.Ticker
	if h.ticker == nil {
		h.ticker = timeTicker{time.NewTicker(c.TickInterval)}
	}
	h.s.init(h)
	go h.run()
	return h, nil
}

// SetTransport sets the transport the host sends through.
func (h *Host) SetTransport(t cluster.Transport) {
	h.transport.Store(&transportBox{t})
}

// Close stops the scheduler. Proposals still waiting return an error that
// wraps ErrOutcomeUnknown and ErrStopped. It closes neither the store nor
// the transport.
func (h *Host) Close() error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.stop)
	}
	h.mu.Unlock()
	<-h.done
	h.ticker.Stop()
	return nil
}

// Err returns why the host stopped by itself (a failed Save, a state
// machine that could not restore), or nil.
func (h *Host) Err() error {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	return h.err
}

func (h *Host) stoppedErr() error {
	if err := h.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return ErrStopped
}

func (h *Host) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// enqueue runs add under the inbox lock unless the host is closed.
func (h *Host) enqueue(add func(in *inbox)) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	add(&h.in)
	h.mu.Unlock()
	h.poke()
	return true
}

// do runs fn on the scheduler and waits for the round it ran in to end.
func (h *Host) do(fn func(), settle bool) error {
	r := &request{fn: fn, settle: settle, done: make(chan struct{})}
	if !h.enqueue(func(in *inbox) { in.reqs = append(in.reqs, r) }) {
		return h.stoppedErr()
	}
	select {
	case <-r.done:
		return nil
	case <-h.done:
		select {
		case <-r.done:
			return nil
		default:
		}
		return h.stoppedErr()
	}
}

// AddGroup starts group id on this node. A group with state in the Store
// restarts from it and peers and learners are ignored. Otherwise, with
// peers, a new group is bootstrapped with those voters and learners (every
// node of the group calls AddGroup with the same lists); without peers the
// node waits to be brought up to date by the leader of a group it is being
// added to by ProposeConfChange.
func (h *Host) AddGroup(id uint64, peers, learners []uint64) error {
	if id == 0 {
		return errors.New("multiraft: group id 0 is reserved; use ids from 1 up")
	}
	r := &addRequest{id: id, peers: slices.Clone(peers), learners: slices.Clone(learners), done: make(chan struct{})}
	if !h.enqueue(func(in *inbox) { in.adds = append(in.adds, r) }) {
		return h.stoppedErr()
	}
	select {
	case <-r.done:
		return r.err
	case <-h.done:
		select {
		case <-r.done:
			return r.err
		default:
		}
		return h.stoppedErr()
	}
}

// RemoveGroup stops group id on this node and removes its state from the
// Store. Proposals waiting on it fail with ErrOutcomeUnknown.
func (h *Host) RemoveGroup(id uint64) error {
	var err error
	if derr := h.do(func() { err = h.s.removeGroup(id) }, false); derr != nil {
		return derr
	}
	return err
}

// Groups lists the groups running on this node, in id order.
func (h *Host) Groups() []uint64 {
	var ids []uint64
	_ = h.do(func() {
		for id := range h.s.groups {
			ids = append(ids, id)
		}
	}, false)
	slices.Sort(ids)
	return ids
}

// Leaders lists the groups this node leads, in id order.
func (h *Host) Leaders() []uint64 {
	h.leadersMu.Lock()
	ids := make([]uint64, 0, len(h.leaders))
	for id := range h.leaders {
		ids = append(ids, id)
	}
	h.leadersMu.Unlock()
	slices.Sort(ids)
	return ids
}

// Propose proposes payload to group and returns once its entry is committed
// and applied on this node, with the state machine's result (a non-nil
// error the state machine set is returned with the result: the entry was
// committed). Other errors: *NotLeaderError at once if this node does not
// lead the group; ErrProposalDropped if the entry is certainly not
// committed; ErrOutcomeUnknown (wrapped) if it cannot be known, which
// includes ctx ending after the proposal reached Raft (ctx ending before
// returns ctx.Err(), and nothing was proposed). Many proposals may be in
// flight at once; entries of one group commit in the order Raft appended
// them.
func (h *Host) Propose(ctx context.Context, group uint64, payload []byte) (Result, error) {
	p := h.newProposal(group)
	p.data = make([]byte, headerLen+len(payload))
	putHeader(p.data, h.id, p.id)
	copy(p.data[headerLen:], payload)
	return h.wait(ctx, p)
}

// ProposeConfChange proposes a membership change to group (add or remove
// voters and learners, entering or leaving a joint configuration) and
// returns once it is applied on this node; Result.Value is the
// *raftpb.ConfState after it. Errors are those of Propose. Raft accepts
// one change at a time: one proposed while another is pending is dropped.
func (h *Host) ProposeConfChange(ctx context.Context, group uint64, cc *raftpb.ConfChangeV2) (Result, error) {
	p := h.newProposal(group)
	ctxData := make([]byte, headerLen+len(cc.GetContext()))
	putHeader(ctxData, h.id, p.id)
	copy(ctxData[headerLen:], cc.GetContext())
	p.cc = &raftpb.ConfChangeV2{Transition: cc.Transition, Changes: cc.Changes, Context: ctxData}
	return h.wait(ctx, p)
}

func (h *Host) newProposal(group uint64) *proposal {
	return &proposal{
		id:      h.propBase + h.propSeq.Add(1),
		group:   group,
		start:   time.Now(),
		heapIdx: -1,
		done:    make(chan struct{}),
	}
}

func (h *Host) wait(ctx context.Context, p *proposal) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if !h.enqueue(func(in *inbox) { in.props = append(in.props, p) }) {
		return Result{}, h.stoppedErr()
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(propQueued, propWithdrawn) {
			return Result{}, ctx.Err()
		}
		select {
		case <-p.done:
			return p.res, p.err
		default:
		}
		h.counters.propUnknown.Add(1)
		return Result{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

// TransferLeader asks the leader of group on this node to hand leadership
// to node to. It returns at once; the transfer happens within an election
// timeout or not at all (watch Status or Leaders).
func (h *Host) TransferLeader(group, to uint64) error {
	var err error
	if derr := h.do(func() {
		g := h.s.groups[group]
		if g == nil {
			err = ErrGroupNotFound
			return
		}
		h.s.wakeGroup(g)
		g.rn.TransferLeader(to)
		h.s.markDirty(g)
	}, false); derr != nil {
		return derr
	}
	return err
}

// Campaign makes this node stand for election in group at once instead of
// waiting for an election timeout (to place leaders, or in tests).
func (h *Host) Campaign(group uint64) error {
	var err error
	if derr := h.do(func() {
		g := h.s.groups[group]
		if g == nil {
			err = ErrGroupNotFound
			return
		}
		h.s.wakeGroup(g)
		err = g.rn.Campaign()
		h.s.markDirty(g)
	}, false); derr != nil {
		return derr
	}
	return err
}

// NodeDown tells the host that node is down (from node liveness): groups
// quiesced under its leadership wake up and elect another leader after an
// election timeout, and groups led here stop optimistic sends to it.
func (h *Host) NodeDown(node uint64) {
	h.enqueue(func(in *inbox) {
		if in.down == nil {
			in.down = make(map[uint64]bool)
		}
		in.down[node] = true
	})
}

// Receive implements cluster.Receiver.
func (h *Host) Receive(from uint64, batch []cluster.Envelope) {
	h.enqueue(func(in *inbox) { in.msgs = append(in.msgs, inboundBatch{from, batch}) })
}

// Unreachable implements cluster.Receiver.
func (h *Host) Unreachable(node uint64) {
	h.enqueue(func(in *inbox) {
		if in.unreachable == nil {
			in.unreachable = make(map[uint64]bool)
		}
		in.unreachable[node] = true
	})
}

// SnapshotStatus implements cluster.Receiver.
func (h *Host) SnapshotStatus(group, node uint64, ok bool) {
	h.enqueue(func(in *inbox) { in.snaps = append(in.snaps, snapStatus{group, node, ok}) })
}

var _ cluster.Receiver = (*Host)(nil)

// CompactQuiesced compacts the whole log of every quiesced group (taking a
// snapshot first where entries were applied since the last one) and
// returns how many it compacted. A server calls it now and then, so that
// groups that went idle with fewer entries than SnapshotEntries do not
// keep their entries, and the files holding them, for ever.
func (h *Host) CompactQuiesced() (int, error) {
	var n int
	err := h.do(func() { n = h.s.compactQuiesced() }, false)
	return n, err
}
