package multiraft

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
)

// scheduler is the state of the one goroutine that drives every group of a
// host. Nothing here is touched by any other goroutine.
type scheduler struct {
	h       *Host
	groups  map[uint64]*group
	active  map[uint64]*group // groups not quiesced: the ones ticked
	dirty   []*group          // groups that may have a Ready this round
	more    bool              // a group still had a Ready after its Advance
	settles []*request        // requests waiting for a round that leaves no Ready
	early   []cluster.Envelope
	down    map[uint64]bool // nodes reported down and not heard from since

	readies  []readyGroup
	applyBuf []Applied
	applyP   []*proposal
}

type readyGroup struct {
	g       *group
	rd      raft.Ready
	applied bool // its committed entries were applied before the Save
}

// group is one Raft group on this node.
type group struct {
	id        uint64
	rn        *raft.RawNode
	storage   cluster.GroupStorage
	confState *raftpb.ConfState // as of applied
	confIndex uint64            // index of the last membership change applied
	lead      uint64
	term      uint64
	state     raft.StateType
	applied   uint64
	snapIndex uint64 // index of the last snapshot taken or restored
	snapBytes uint64 // bytes of entries applied since
	quiesced  bool
	dirty     bool
	removed   bool

	waiting    map[uint64]*proposal // by proposal id: handed to Raft, not finished
	unassigned []*proposal          // proposed this round, index not yet known
	forwarded  int                  // waiting proposals passed to the leader, index not yet known

	savedTerm, savedVote uint64  // of the hard state last handed to the store
	indexed              byIndex // waiting proposals with an index
}

// quiesceContext marks a heartbeat by which a leader quiesces its
// followers. The follower echoes it in its response, where Raft reads the
// first 8 bytes as a little-endian read-index position: 0 confirms no read.
var quiesceContext = append(make([]byte, 8), "sluice-quiesce"...)

func isQuiesceContext(m *raftpb.Message) bool {
	return string(m.GetContext()) == string(quiesceContext)
}

func (s *scheduler) init(h *Host) {
	s.h = h
	s.groups = make(map[uint64]*group)
	s.active = make(map[uint64]*group)
	s.down = make(map[uint64]bool)
}

// run is the scheduler goroutine. Each round it takes everything queued by
// other goroutines and, in this order: starts the groups asked for, runs
// requests, hands Raft the transport's reports, steps incoming messages,
// ticks the groups that are not quiesced (quiescing leaders that may), hands
// Raft the proposals, and then handles the Ready of every group that has
// one: sends the messages that need nothing durable first, saves every
// group's entries and hard state with one Store.Save, sends the rest,
// applies committed entries in log order and calls Advance. Proposals come
// after messages so that nothing can truncate a new entry before the
// Ready that reveals its index.
func (h *Host) run() {
	defer close(h.done)
	s := &h.s
	tick := h.ticker.C()
	for {
		ticked := false
		if s.more {
			select {
			case <-h.stop:
				s.shutdown(nil)
				return
			case <-tick:
				ticked = true
			default:
			}
		} else {
			select {
			case <-h.stop:
				s.shutdown(nil)
				return
			case <-h.wake:
			case <-tick:
				ticked = true
			}
		}
		if err := s.round(ticked); err != nil {
			h.log.Error("multiraft host stopped", "err", err)
			s.shutdown(err)
			return
		}
	}
}

func (s *scheduler) round(ticked bool) error {
	h := s.h
	h.counters.rounds.Add(1)
	h.mu.Lock()
	in := h.in
	h.in = inbox{}
	h.mu.Unlock()

	if len(in.adds) > 0 {
		s.addGroups(in.adds)
	}
	for _, r := range in.reqs {
		r.fn()
	}
	for _, st := range in.snaps {
		if g := s.groups[st.group]; g != nil {
			status := raft.SnapshotFinish
			if !st.ok {
				status = raft.SnapshotFailure
			}
			g.rn.ReportSnapshot(st.node, status)
			s.markDirty(g)
		}
	}
	for node := range in.unreachable {
		s.nodeUnreachable(node)
	}
	for node := range in.down {
		s.nodeDown(node)
	}
	for _, ib := range in.msgs {
		delete(s.down, ib.from) // it is up after all
		for i := range ib.batch {
			s.step(ib.batch[i].Group, &ib.batch[i].Msg)
		}
	}
	if ticked {
		s.tick()
	}
	for _, p := range in.props {
		s.propose(p)
	}
	err := s.handleReadies()
	for _, r := range in.reqs {
		if r.settle {
			s.settles = append(s.settles, r)
		} else {
			close(r.done)
		}
	}
	if !s.more {
		for _, r := range s.settles {
			close(r.done)
		}
		s.settles = nil
	}
	return err
}

// shutdown fails everything waiting; cause is nil for Close.
func (s *scheduler) shutdown(cause error) {
	h := s.h
	if cause != nil {
		h.errMu.Lock()
		h.err = cause
		h.errMu.Unlock()
	}
	h.mu.Lock()
	h.closed = true
	in := h.in
	h.in = inbox{}
	h.mu.Unlock()
	stopped := h.stoppedErr()
	for _, p := range in.props {
		p.finish(Result{}, stopped)
	}
	for _, r := range in.adds {
		r.err = stopped
		close(r.done)
	}
	for _, g := range s.groups {
		s.failWaiting(g, fmt.Errorf("%w: %w", ErrOutcomeUnknown, stopped))
	}
}

func (s *scheduler) failWaiting(g *group, err error) {
	for _, p := range g.waiting {
		s.h.counters.propUnknown.Add(1)
		p.finish(Result{}, err)
	}
	clear(g.waiting)
	g.unassigned = nil
	g.indexed = nil
}

func (s *scheduler) markDirty(g *group) {
	if !g.dirty {
		g.dirty = true
		s.dirty = append(s.dirty, g)
	}
}

func (s *scheduler) wakeGroup(g *group) {
	if g.quiesced {
		g.quiesced = false
		s.active[g.id] = g
		s.h.counters.quie.Add(^uint64(0))
	}
}

func (s *scheduler) quiesce(g *group) {
	if !g.quiesced {
		g.quiesced = true
		delete(s.active, g.id)
		s.h.counters.quie.Add(1)
	}
}

func (s *scheduler) step(groupID uint64, m *raftpb.Message) {
	g := s.groups[groupID]
	if g == nil {
		return // not (or no longer) here; Raft sends again
	}
	s.h.counters.msgsIn.Add(1)
	quiesce := m.GetType() == raftpb.MsgHeartbeat && isQuiesceContext(m)
	if m.GetType() == raftpb.MsgHeartbeatResp && isQuiesceContext(m) {
		m.Context = nil // an answer to our quiesce heartbeat, not to a read
	}
	if m.GetType() == raftpb.MsgProp && m.GetReject() {
		s.forwardDropped(g, m)
		return
	}
	if g.quiesced && !quiesce && m.GetType() != raftpb.MsgHeartbeatResp {
		s.wakeGroup(g)
	}
	if err := g.rn.Step(m); err != nil {
		s.h.log.Debug("step", "group", g.id, "type", m.GetType().String(), "err", err)
		if m.GetType() == raftpb.MsgProp && errors.Is(err, raft.ErrProposalDropped) && m.GetFrom() != 0 && m.GetFrom() != s.h.id {
			s.noticeDropped(g, m)
		}
	}
	s.markDirty(g)
	if quiesce && !g.quiesced {
		st := g.rn.BasicStatus()
		if st.RaftState == raft.StateFollower && st.Lead == m.GetFrom() &&
			st.GetTerm() == m.GetTerm() && st.GetCommit() == m.GetCommit() {
			s.quiesce(g)
		}
	}
}

// noticeDropped tells the node that forwarded the proposals of m that Raft
// dropped them here (this node is no longer the leader, or is handing its
// leadership over): they are certainly not in the log, and their proposer
// may retry them at once instead of waiting ForwardTimeout to learn
// nothing. The notice is a MsgProp with Reject set, which Raft never sends,
// carrying only the entries' headers.
func (s *scheduler) noticeDropped(g *group, m *raftpb.Message) {
	ents := make([]*raftpb.Entry, 0, len(m.Entries))
	for _, e := range m.Entries {
		if d := e.GetData(); len(d) >= headerLen {
			ents = append(ents, &raftpb.Entry{Data: d[:headerLen:headerLen]})
		}
	}
	if len(ents) == 0 {
		return
	}
	s.h.counters.propBounced.Add(uint64(len(ents)))
	s.send([]cluster.Envelope{{Group: g.id, Msg: raftpb.Message{Type: new(raftpb.MsgProp), To: new(m.GetFrom()), From: new(s.h.id), Reject: new(true), Entries: ents}}})
}

// forwardDropped ends, as dropped, the proposals this node forwarded that
// the node they went to says Raft dropped there.
func (s *scheduler) forwardDropped(g *group, m *raftpb.Message) {
	for i := range m.Entries {
		node, id, _, ok := parseHeader(m.Entries[i].GetData())
		if !ok || node != s.h.id {
			continue
		}
		p := g.waiting[id]
		if p == nil || !p.forwarded || p.index != 0 {
			continue
		}
		delete(g.waiting, id)
		g.forwarded--
		s.h.counters.propDropped.Add(1)
		p.finish(Result{}, fmt.Errorf("%w: the node it was forwarded to (%d) is not the leader of group %d or is handing its leadership over",
			ErrProposalDropped, m.GetFrom(), g.id))
	}
}

// nodeUnreachable tells the groups led here that node missed a message,
// and wakes the groups quiesced under node's leadership so they notice if
// it is gone.
func (s *scheduler) nodeUnreachable(node uint64) {
	for _, g := range s.groups {
		if g.lead == node && node != s.h.id {
			s.wakeGroup(g)
		}
		if g.state == raft.StateLeader && !g.quiesced {
			g.rn.ReportUnreachable(node)
			s.markDirty(g)
		}
	}
}

// nodeDown handles a report that node is down. Followers of the groups it
// led forget it, so that they grant votes at once instead of waiting out
// its lease, and one of the remaining voters, the same on every node that
// was told, stands for election at once; the others wake and would stand
// after an election timeout if that fails.
func (s *scheduler) nodeDown(node uint64) {
	h := s.h
	if node == h.id {
		return
	}
	s.down[node] = true
	for _, g := range s.groups {
		if g.state == raft.StateLeader && !g.quiesced {
			g.rn.ReportUnreachable(node)
			s.markDirty(g)
			continue
		}
		if g.lead != node {
			continue
		}
		s.wakeGroup(g)
		_ = g.rn.ForgetLeader()
		var voters []uint64
		for _, v := range g.confState.GetVoters() {
			if v != node {
				voters = append(voters, v)
			}
		}
		if len(voters) > 0 {
			slices.Sort(voters)
			if voters[g.id%uint64(len(voters))] == h.id {
				_ = g.rn.Campaign()
			}
		}
		s.markDirty(g)
	}
}

// tick ticks every group that is not quiesced. A leader whose group is idle
// and fully replicated quiesces instead: it tells its followers with a
// marked heartbeat and stops ticking.
func (s *scheduler) tick() {
	h := s.h
	for _, g := range s.active {
		if g.state == raft.StateLeader && !h.cfg.noQuiesce {
			if commit, ok := s.canQuiesce(g); ok {
				g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
					if id != h.id && !s.down[id] {
						s.early = append(s.early, quiesceHeartbeat(g, h.id, id, min(commit, pr.Match)))
					}
				})
				s.quiesce(g)
				continue
			}
		}
		g.rn.Tick()
		h.counters.ticks.Add(1)
		s.markDirty(g)
	}
}

func (s *scheduler) canQuiesce(g *group) (uint64, bool) {
	if len(g.waiting) > 0 || g.rn.HasReady() {
		return 0, false
	}
	st := g.rn.BasicStatus()
	commit := st.GetCommit()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 || st.Applied != commit {
		return 0, false
	}
	// Every follower has the whole log, except those on nodes reported
	// down: they wake the group when they are back.
	ok := true
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if s.down[id] {
			return
		}
		if pr.Match != commit || (id != s.h.id && pr.State != tracker.StateReplicate) {
			ok = false
		}
	})
	return commit, ok
}

func quiesceHeartbeat(g *group, from, to, commit uint64) cluster.Envelope {
	return cluster.Envelope{Group: g.id, Msg: raftpb.Message{
		Type:    raftpb.MsgHeartbeat.Enum(),
		To:      new(to),
		From:    new(from),
		Term:    new(g.term),
		Commit:  new(commit),
		Context: quiesceContext,
	}}
}

func (s *scheduler) propose(p *proposal) {
	h := s.h
	if !p.state.CompareAndSwap(propQueued, propHandedToRaft) {
		return // the caller gave up before the proposal was made
	}
	g := s.groups[p.group]
	if g == nil {
		p.finish(Result{}, ErrGroupNotFound)
		return
	}
	// A proposal wakes the group even on a follower, so that a follower
	// quiesced under a leader that has since died notices it is gone.
	s.wakeGroup(g)
	if g.state != raft.StateLeader {
		if h.cfg.ForwardProposals && g.lead != 0 && p.cc == nil {
			// Raft passes it to the leader as a MsgProp.
			if err := g.rn.Propose(p.data); err != nil {
				h.counters.propDropped.Add(1)
				p.finish(Result{}, ErrProposalDropped)
				return
			}
			p.forwarded = true
			g.waiting[p.id] = p
			g.forwarded++
			s.markDirty(g)
			return
		}
		h.counters.propNotLeader.Add(1)
		p.finish(Result{}, &NotLeaderError{Group: g.id, Leader: g.lead})
		return
	}
	var err error
	if p.cc != nil {
		err = g.rn.ProposeConfChange(p.cc)
	} else {
		err = g.rn.Propose(p.data)
	}
	if err != nil {
		h.counters.propDropped.Add(1)
		p.finish(Result{}, ErrProposalDropped)
		return
	}
	g.waiting[p.id] = p
	g.unassigned = append(g.unassigned, p)
	s.markDirty(g)
}

// handleReadies handles the Ready of every dirty group: one Save for all.
func (s *scheduler) handleReadies() error {
	h := s.h
	rds := s.readies[:0]
	for _, g := range s.dirty {
		g.dirty = false
		if !g.removed && g.rn.HasReady() {
			rds = append(rds, readyGroup{g: g, rd: g.rn.Ready()})
		}
	}
	s.dirty = s.dirty[:0]
	s.readies = rds

	// One allocation each for the envelopes and updates of the round.
	nmsgs := 0
	for i := range rds {
		nmsgs += len(rds[i].rd.Messages)
	}
	early := make([]cluster.Envelope, len(s.early), len(s.early)+nmsgs)
	copy(early, s.early)
	s.early = nil
	late := make([]cluster.Envelope, 0, nmsgs)
	updates := make([]cluster.Update, 0, len(rds))
	for i := range rds {
		g, rd := rds[i].g, &rds[i].rd
		for _, m := range rd.Messages {
			if m.GetTo() == h.id {
				continue
			}
			switch m.GetType() {
			case raftpb.MsgAppResp, raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
				// Acknowledgements and votes promise what must be on
				// disk first.
				late = append(late, envelope(g.id, m))
			case raftpb.MsgSnap:
				h.counters.snapsSent.Add(1)
				early = append(early, envelope(g.id, m))
			default:
				// A leader's appends and heartbeats may go before its own
				// write (Raft thesis §10.2.1): it counts itself towards a
				// quorum only after Advance, which follows the Save.
				early = append(early, envelope(g.id, m))
			}
		}
		if len(g.unassigned) > 0 || g.forwarded > 0 {
			s.assign(g, rd.Entries)
		}
		if g.forwarded > 0 {
			s.expireForwarded(g)
		}
		updates = append(updates, cluster.Update{Group: g.id})
		u := &updates[len(updates)-1]
		has := false
		if hs := rd.HardState; hs != nil && !raft.IsEmptyHardState(hs) {
			g.term = hs.GetTerm()
			// A hard state whose term and vote are those already stored
			// only moved the commit index, which Raft does not need on
			// disk (a restarted node learns it again from its leader):
			// saved only along with entries, it costs no fdatasync of
			// its own between a commit and its apply.
			if hs.GetTerm() != g.savedTerm || hs.GetVote() != g.savedVote || len(rd.Entries) > 0 ||
				(rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)) {
				u.HardState = raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(hs.GetCommit())}
				g.savedTerm, g.savedVote = hs.GetTerm(), hs.GetVote()
				has = true
			}
		}
		if len(rd.Entries) > 0 {
			u.Entries = make([]raftpb.Entry, len(rd.Entries))
			for j, e := range rd.Entries {
				u.Entries[j] = raftpb.Entry{Term: e.Term, Index: e.Index, Type: e.Type, Data: e.Data}
			}
			has = true
		}
		if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
			u.Snapshot = raftpb.Snapshot{Data: rd.Snapshot.Data, Metadata: rd.Snapshot.Metadata}
			has = true
		}
		if !has {
			updates = updates[:len(updates)-1]
		}
	}
	s.send(early)
	// Committed entries are on a quorum's disks already: apply them
	// before this round's Save, so that their proposers are answered
	// without waiting for the fdatasync of entries proposed since. A Ready
	// that brings a snapshot is applied after it, below.
	for i := range rds {
		g, rd := rds[i].g, &rds[i].rd
		if len(rd.CommittedEntries) == 0 || (rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)) {
			continue
		}
		if err := s.apply(g, rd.CommittedEntries); err != nil {
			return err
		}
		rds[i].applied = true
	}
	if len(updates) > 0 {
		h.counters.saves.Add(1)
		if err := h.store.Save(updates); err != nil {
			return fmt.Errorf("save %d groups: %w", len(updates), err)
		}
	}
	s.send(late)

	for i := range rds {
		g, rd := rds[i].g, &rds[i].rd
		if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
			if err := s.restore(g, rd.Snapshot); err != nil {
				return err
			}
		}
		if rd.SoftState != nil {
			s.softState(g, rd.SoftState)
		}
		if len(rd.CommittedEntries) > 0 && !rds[i].applied {
			if err := s.apply(g, rd.CommittedEntries); err != nil {
				return err
			}
		}
		g.rn.Advance(*rd)
		s.maybeSnapshot(g)
		if g.rn.HasReady() {
			s.markDirty(g)
		}
		rds[i] = readyGroup{}
	}
	s.more = len(s.dirty) > 0
	return nil
}

func (s *scheduler) send(batch []cluster.Envelope) {
	if len(batch) == 0 {
		return
	}
	tb := s.h.transport.Load()
	if tb == nil || tb.t == nil {
		return // no transport yet; Raft sends again
	}
	s.h.counters.msgsOut.Add(uint64(len(batch)))
	tb.t.Send(batch)
}

// envelope wraps m. The message's fields are shared, not copied: Raft does
// not change a message once it is in a Ready.
func envelope(group uint64, m *raftpb.Message) cluster.Envelope {
	return cluster.Envelope{Group: group, Msg: raftpb.Message{
		Type: m.Type, To: m.To, From: m.From, Term: m.Term, LogTerm: m.LogTerm,
		Index: m.Index, Entries: m.Entries, Commit: m.Commit, Vote: m.Vote,
		Snapshot: m.Snapshot, Reject: m.Reject, RejectHint: m.RejectHint,
		Context: m.Context, Responses: m.Responses,
	}}
}

// assign finds this round's proposals of g among the entries the leader
// just appended and notes their index. A proposal Raft took but did not
// append (a second membership change while one is pending is replaced by an
// empty entry) is dropped.
func (s *scheduler) assign(g *group, ents []*raftpb.Entry) {
	for _, e := range ents {
		id, ok := s.ownProposal(e)
		if !ok {
			continue
		}
		if p := g.waiting[id]; p != nil && p.index == 0 {
			p.index, p.term = e.GetIndex(), e.GetTerm()
			heap.Push(&g.indexed, p)
			if p.forwarded {
				g.forwarded--
			}
		}
	}
	for _, p := range g.unassigned {
		if p.index == 0 {
			delete(g.waiting, p.id)
			s.h.counters.propDropped.Add(1)
			p.finish(Result{}, ErrProposalDropped)
		}
	}
	clear(g.unassigned)
	g.unassigned = g.unassigned[:0]
}

// expireForwarded ends the forwarded proposals of g that no entry has
// carried back within ForwardTimeout: the leader they went to lost them.
func (s *scheduler) expireForwarded(g *group) {
	limit := time.Now().Add(-s.h.cfg.ForwardTimeout)
	for id, p := range g.waiting {
		if !p.forwarded || p.index != 0 || p.start.After(limit) {
			continue
		}
		delete(g.waiting, id)
		g.forwarded--
		s.h.counters.propUnknown.Add(1)
		p.finish(Result{}, fmt.Errorf("%w: forwarded to the leader of group %d and not seen again within %v",
			ErrOutcomeUnknown, g.id, s.h.cfg.ForwardTimeout))
	}
}

// ownProposal returns the proposal id of an entry this host proposed.
func (s *scheduler) ownProposal(e *raftpb.Entry) (uint64, bool) {
	var data []byte
	switch e.GetType() {
	case raftpb.EntryNormal:
		data = e.GetData()
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if proto.Unmarshal(e.GetData(), &cc) != nil {
			return 0, false
		}
		data = cc.GetContext()
	default:
		return 0, false
	}
	node, id, _, ok := parseHeader(data)
	return id, ok && node == s.h.id
}

func (s *scheduler) softState(g *group, ss *raft.SoftState) {
	h := s.h
	if ss.RaftState == raft.StateCandidate && g.state != raft.StateCandidate {
		h.counters.elections.Add(1)
	}
	wasLeader := g.state == raft.StateLeader
	g.state = ss.RaftState
	isLeader := g.state == raft.StateLeader
	if wasLeader != isLeader {
		h.leadersMu.Lock()
		if isLeader {
			h.leaders[g.id] = g.term
		} else {
			delete(h.leaders, g.id)
		}
		h.leadersMu.Unlock()
	}
	if ss.Lead != g.lead {
		g.lead = ss.Lead
		if g.lead != 0 {
			h.counters.leaderChanges.Add(1)
		}
		h.sm.LeaderChanged(g.id, g.lead, g.term)
	}
}

func (s *scheduler) restore(g *group, snap *raftpb.Snapshot) error {
	h := s.h
	if err := h.sm.Restore(g.id, snap); err != nil {
		return fmt.Errorf("restore group %d from snapshot at %d: %w", g.id, snap.GetMetadata().GetIndex(), err)
	}
	h.counters.snapsReceived.Add(1)
	idx := snap.GetMetadata().GetIndex()
	g.confState = snap.GetMetadata().GetConfState()
	g.applied, g.snapIndex, g.snapBytes = idx, idx, 0
	// Entries this node proposed at or below idx are inside the snapshot
	// or were overwritten; which, the host cannot tell.
	for len(g.indexed) > 0 && g.indexed[0].index <= idx {
		p := heap.Pop(&g.indexed).(*proposal)
		delete(g.waiting, p.id)
		h.counters.propUnknown.Add(1)
		p.finish(Result{}, fmt.Errorf("%w: group %d caught up from a snapshot at index %d that covers the entry's index %d",
			ErrOutcomeUnknown, g.id, idx, p.index))
	}
	return nil
}

// apply applies committed entries: membership changes to Raft, then all of
// them to the state machine in one call; then it answers the proposers
// waiting here, and drops the proposals whose index now holds another entry.
func (s *scheduler) apply(g *group, ents []*raftpb.Entry) error {
	h := s.h
	batch := s.applyBuf[:0]
	props := s.applyP[:0]
	for _, e := range ents {
		g.snapBytes += uint64(len(e.GetData()))
		a := Applied{Index: e.GetIndex(), Term: e.GetTerm()}
		var node, id uint64
		var ok bool
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) > 0 {
				node, id, a.Payload, ok = parseHeader(e.GetData())
			}
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			cc, err := decodeConfChange(e)
			if err != nil {
				return fmt.Errorf("group %d entry %d: %w", g.id, e.GetIndex(), err)
			}
			g.confState = g.rn.ApplyConfChange(cc)
			g.confIndex = e.GetIndex()
			node, id, cc.Context, ok = parseHeader(cc.GetContext())
			a.ConfChange, a.ConfState = cc, g.confState
			a.Result = g.confState
		}
		var p *proposal
		if ok {
			a.Proposer = node
			if node == h.id {
				p = g.waiting[id]
			}
		}
		batch = append(batch, a)
		props = append(props, p)
	}
	h.sm.Apply(g.id, batch)
	for i, p := range props {
		if p == nil {
			continue
		}
		a := &batch[i]
		delete(g.waiting, p.id)
		if p.forwarded && p.index == 0 {
			g.forwarded--
		}
		if p.heapIdx >= 0 {
			heap.Remove(&g.indexed, p.heapIdx)
		}
		h.counters.propOK.Add(1)
		h.counters.recordLatency(time.Since(p.start))
		p.finish(Result{Index: a.Index, Term: a.Term, Value: a.Result}, a.Err)
	}
	last := ents[len(ents)-1].GetIndex()
	g.applied = last
	for len(g.indexed) > 0 && g.indexed[0].index <= last {
		p := heap.Pop(&g.indexed).(*proposal)
		delete(g.waiting, p.id)
		h.counters.propDropped.Add(1)
		p.finish(Result{}, ErrProposalDropped)
	}
	clear(batch)
	clear(props)
	s.applyBuf, s.applyP = batch[:0], props[:0]
	return nil
}

func decodeConfChange(e *raftpb.Entry) (*raftpb.ConfChangeV2, error) {
	if e.GetType() == raftpb.EntryConfChange {
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return nil, fmt.Errorf("decode membership change: %w", err)
		}
		return cc.AsV2(), nil
	}
	var cc raftpb.ConfChangeV2
	if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
		return nil, fmt.Errorf("decode membership change: %w", err)
	}
	return &raftpb.ConfChangeV2{Transition: cc.Transition, Changes: cc.Changes, Context: cc.Context}, nil
}

// maybeSnapshot takes a snapshot of g and compacts its log once enough has
// been applied since the last one.
func (s *scheduler) maybeSnapshot(g *group) {
	h := s.h
	if g.applied < g.snapIndex+h.cfg.SnapshotEntries && g.snapBytes < h.cfg.SnapshotBytes {
		return
	}
	idx := g.applied
	if err := s.takeSnapshot(g); err != nil {
		h.log.Warn("snapshot failed; the log grows until the next try", "group", g.id, "index", idx, "err", err)
		g.snapIndex, g.snapBytes = idx, 0
		return
	}
	if idx <= h.cfg.CompactionTail {
		return
	}
	to := idx - h.cfg.CompactionTail
	if g.state == raft.StateLeader {
		// Keep what a follower behind still needs, within reason.
		g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			if id != h.id && pr.Match < to && idx-pr.Match <= h.cfg.KeepForFollowers {
				to = pr.Match
			}
		})
	}
	if first, err := g.storage.FirstIndex(); err == nil && to >= first {
		if err := g.storage.Compact(to); err != nil && !errors.Is(err, raft.ErrCompacted) {
			h.log.Warn("compact failed", "group", g.id, "index", to, "err", err)
		}
	}
}

func (s *scheduler) removeGroup(id uint64) error {
	h := s.h
	g := s.groups[id]
	if g == nil {
		return ErrGroupNotFound
	}
	s.failWaiting(g, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrGroupRemoved))
	g.removed = true
	if g.quiesced {
		h.counters.quie.Add(^uint64(0))
	}
	delete(s.groups, id)
	delete(s.active, id)
	h.counters.groups.Add(^uint64(0))
	h.leadersMu.Lock()
	delete(h.leaders, id)
	h.leadersMu.Unlock()
	if err := h.store.RemoveGroup(id); err != nil {
		return fmt.Errorf("remove group %d from the store: %w", id, err)
	}
	return nil
}

// addGroups starts the groups asked for this round; the initial state of
// every new group among them is saved with one Save.
func (s *scheduler) addGroups(adds []*addRequest) {
	h := s.h
	type pending struct {
		r       *addRequest
		storage cluster.GroupStorage
	}
	var starts []pending
	var boot []cluster.Update
	seen := make(map[uint64]bool)
	for _, r := range adds {
		if s.groups[r.id] != nil || seen[r.id] {
			r.err = ErrGroupExists
			close(r.done)
			continue
		}
		seen[r.id] = true
		st, err := h.store.Group(r.id)
		if err != nil {
			r.err = fmt.Errorf("open group %d in the store: %w", r.id, err)
			close(r.done)
			continue
		}
		fresh, err := isFresh(st)
		if err != nil {
			r.err = fmt.Errorf("read group %d from the store: %w", r.id, err)
			close(r.done)
			continue
		}
		if fresh && len(r.peers) > 0 {
			if err := checkBootstrap(h.id, r); err != nil {
				r.err = err
				close(r.done)
				continue
			}
			boot = append(boot, bootstrapUpdate(r))
		}
		starts = append(starts, pending{r, st})
	}
	if len(boot) > 0 {
		h.counters.saves.Add(1)
		if err := h.store.Save(boot); err != nil {
			for _, p := range starts {
				p.r.err = fmt.Errorf("save the initial state of %d groups: %w", len(boot), err)
				close(p.r.done)
			}
			return
		}
	}
	for _, p := range starts {
		p.r.err = s.startGroup(p.r.id, p.storage)
		close(p.r.done)
	}
}

func isFresh(st cluster.GroupStorage) (bool, error) {
	hs, _, err := st.InitialState()
	if err != nil {
		return false, err
	}
	last, err := st.LastIndex()
	if err != nil {
		return false, err
	}
	return last == 0 && raft.IsEmptyHardState(hs), nil
}

// bootstrapUpdate is the initial state every node of a new group stores: a
// snapshot at index 1, term 1, of an empty state machine with the group's
// voters and learners. Starting from an identical snapshot rather than from
// Raft's Bootstrap entries allows learners from the start.
func bootstrapUpdate(r *addRequest) cluster.Update {
	return cluster.Update{
		Group:     r.id,
		HardState: raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(0)), Commit: new(uint64(1))},
		Snapshot: raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: new(uint64(1)),
			Term:  new(uint64(1)),
			ConfState: &raftpb.ConfState{
				Voters:    r.peers,
				Learners:  r.learners,
				AutoLeave: new(false),
			},
		}},
	}
}

// checkBootstrap checks the members a new group is bootstrapped with.
func checkBootstrap(self uint64, r *addRequest) error {
	member := false
	seen := make(map[uint64]bool)
	for _, list := range [][]uint64{r.peers, r.learners} {
		for _, n := range list {
			if n == 0 {
				return fmt.Errorf("multiraft: group %d names node 0; node ids start at 1", r.id)
			}
			if seen[n] {
				return fmt.Errorf("multiraft: group %d names node %d twice; a node is either a voter or a learner, once", r.id, n)
			}
			seen[n] = true
			member = member || n == self
		}
	}
	if !member {
		return fmt.Errorf("multiraft: group %d is bootstrapped without this node (%d); list it among the peers or learners, or call AddGroup with no peers to join through a membership change", r.id, self)
	}
	return nil
}

// startGroup creates the RawNode of a group from what the store holds.
func (s *scheduler) startGroup(id uint64, st cluster.GroupStorage) error {
	h := s.h
	hs, cs, err := st.InitialState()
	if err != nil {
		return fmt.Errorf("read group %d from the store: %w", id, err)
	}
	snap, err := st.Snapshot()
	if err != nil {
		return fmt.Errorf("read group %d's snapshot from the store: %w", id, err)
	}
	applied := snap.GetMetadata().GetIndex()
	restore := !raft.IsEmptySnap(snap)
	if ai, ok := h.sm.(AppliedIndexer); ok {
		if a := min(ai.AppliedIndex(id), max(hs.GetCommit(), applied)); a >= applied {
			applied, restore = a, false
		}
	}
	if restore {
		if err := h.sm.Restore(id, snap); err != nil {
			return fmt.Errorf("restore group %d from its stored snapshot at %d: %w", id, applied, err)
		}
	}
	rs := &raftStorage{GroupStorage: st, s: s}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        h.id,
		ElectionTick:              h.cfg.ElectionTicks,
		HeartbeatTick:             h.cfg.HeartbeatTicks,
		Storage:                   rs,
		Applied:                   applied,
		MaxSizePerMsg:             h.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           h.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: h.cfg.MaxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: !h.cfg.ForwardProposals,
		StepDownOnRemoval:         true,
		Logger:                    h.rlog,
	})
	if err != nil {
		return fmt.Errorf("start group %d: %w", id, err)
	}
	g := &group{
		id:        id,
		rn:        rn,
		storage:   st,
		confState: cs,
		term:      hs.GetTerm(),
		state:     raft.StateFollower,
		applied:   applied,
		snapIndex: snap.GetMetadata().GetIndex(),
		waiting:   make(map[uint64]*proposal),
	}
	rs.g = g
	s.groups[id] = g
	s.active[id] = g
	h.counters.groups.Add(1)
	s.markDirty(g)
	return nil
}

// takeSnapshot records a snapshot of g at its applied index.
func (s *scheduler) takeSnapshot(g *group) error {
	h := s.h
	idx := g.applied
	data, err := h.sm.Snapshot(g.id, idx)
	if err != nil {
		return fmt.Errorf("state machine snapshot at %d: %w", idx, err)
	}
	if _, err := g.storage.CreateSnapshot(idx, g.confState, data); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return fmt.Errorf("store snapshot at %d: %w", idx, err)
	}
	g.snapIndex, g.snapBytes = idx, 0
	h.counters.snapsTaken.Add(1)
	return nil
}

// raftStorage is the storage Raft reads a group through. Raft sends a
// follower the stored snapshot when it needs entries the log no longer
// has, or a node that joins needs the group's start; a stored snapshot
// older than the last applied membership change would not name a node
// added since (Raft refuses such a snapshot), so a fresh one is taken.
type raftStorage struct {
	cluster.GroupStorage
	s *scheduler
	g *group
}

// InitialState is the stored hard state with its commit index raised to
// the snapshot's: a hard state that only moved the commit index is not
// always stored (see handleReadies), so the one on disk may name a commit
// index below entries already applied and snapshotted, which were
// committed all the same.
func (r *raftStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, cs, err := r.GroupStorage.InitialState()
	if err != nil {
		return hs, cs, err
	}
	snap, err := r.GroupStorage.Snapshot()
	if err != nil {
		return hs, cs, err
	}
	if idx := snap.GetMetadata().GetIndex(); idx > hs.GetCommit() {
		hs = &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(idx)}
	}
	return hs, cs, nil
}

func (r *raftStorage) Snapshot() (*raftpb.Snapshot, error) {
	snap, err := r.GroupStorage.Snapshot()
	if err != nil || r.g == nil || snap.GetMetadata().GetIndex() >= r.g.confIndex {
		return snap, err
	}
	if err := r.s.takeSnapshot(r.g); err != nil {
		r.s.h.log.Warn("snapshot for a follower failed", "group", r.g.id, "err", err)
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return r.GroupStorage.Snapshot()
}

// compactQuiesced snapshots every quiesced group with entries applied since
// its last snapshot and compacts its whole log: a quiesced group's
// followers all hold its last index, so none needs the entries again, and
// an idle group no longer keeps the node-wide log's old files.
func (s *scheduler) compactQuiesced() int {
	h := s.h
	n := 0
	for _, g := range s.groups {
		if !g.quiesced || g.removed || g.applied == 0 {
			continue
		}
		first, err := g.storage.FirstIndex()
		if err != nil || first > g.applied {
			continue // nothing left to compact
		}
		if g.applied > g.snapIndex {
			if err := s.takeSnapshot(g); err != nil {
				h.log.Warn("snapshot of a quiesced group failed", "group", g.id, "index", g.applied, "err", err)
				continue
			}
		}
		if err := g.storage.Compact(g.applied); err != nil && !errors.Is(err, raft.ErrCompacted) {
			h.log.Warn("compact failed", "group", g.id, "index", g.applied, "err", err)
			continue
		}
		n++
	}
	return n
}
