package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
)

// Consumer groups: per stream, named groups of members that split the
// stream's shards among themselves. The server holds each group's leases
// (one shard for one member, with a fencing epoch that grows on every change
// of owner) and checkpoints (how far the group got in each shard), balances
// the leases over the live members, hands a lease over when a member leaves
// or a rebalance moves it, and takes a dead member's leases back once its
// failover time has passed without a heartbeat. Time comes from
// Options.Now: expiries are judged when a member calls, not by a timer, so
// a test moves time by moving its clock.
//
// Checkpoints and lease owners are kept in the stream's group log
// (groups_log.go), synced before a change is acknowledged. Members are not:
// after a restart the owners named by the log get a failover time to call
// again before their leases go to others.
//
// On a replica of a cluster every call that may change a group is a catalog
// change instead, applied on every node in the same order at the
// proposer's clock (change_groups.go); its log then keeps the whole state,
// members and moves included, and the index of the last change applied.

// Group limits and defaults.
const (
	// DefaultFailoverTime is how long a member may go without a heartbeat
	// before its leases go to other members: 10 s, as KCL's default.
	DefaultFailoverTime = 10 * time.Second
	// MinFailoverTime and MaxFailoverTime bound a group's failover time.
	MinFailoverTime = 100 * time.Millisecond
	MaxFailoverTime = time.Hour
	// MaxMemberNameLen bounds a member name, in bytes.
	MaxMemberNameLen = 256
)

// cpKind says what a checkpoint covers. Part of the group log's format.
type cpKind uint8

const (
	cpNone    cpKind = iota // nothing: start at the shard's first record
	cpPartial               // sub-records 0..sub of record seq (an aggregate)
	cpWhole                 // record seq, every sub-record of it
	cpEnd                   // the whole shard (SHARD_END)
)

type checkpoint struct {
	kind     cpKind
	seq, sub uint64
}

// before reports whether c is strictly behind o.
func (c checkpoint) before(o checkpoint) bool {
	if c.kind == cpEnd || o.kind == cpNone {
		return false
	}
	if o.kind == cpEnd || c.kind == cpNone {
		return true
	}
	if c.seq != o.seq {
		return c.seq < o.seq
	}
	if c.kind != o.kind {
		return c.kind == cpPartial
	}
	return c.kind == cpPartial && c.sub < o.sub
}

// resume is the internal sequence number reading starts at after c, given
// the shard's first retained record.
func (c checkpoint) resume(first uint64) uint64 {
	var at uint64
	switch c.kind {
	case cpPartial:
		at = c.seq
	case cpWhole:
		at = c.seq + 1
	}
	return max(at, first)
}

// GroupCheckpoint is how far a group got in a shard.
type GroupCheckpoint struct {
	// Seq is the sequence number of the last record processed; "" when
	// nothing was (the group starts at the shard's first record).
	Seq string
	// SubSeq is the last sub-record processed of an aggregated record.
	SubSeq uint64
	// Whole says every sub-record of Seq was processed (always so for a
	// record that is not an aggregate): reading resumes after Seq.
	// Otherwise it resumes at Seq, skipping sub-records up to SubSeq.
	Whole bool
	// ShardEnd says the whole shard was processed; its children may start.
	ShardEnd bool
}

// GroupLease is a lease as its owner sees it.
type GroupLease struct {
	Shard string
	// Epoch is the fencing epoch: a checkpoint must carry it.
	Epoch      uint64
	Checkpoint GroupCheckpoint
	// Release asks the owner to checkpoint and release the lease (with
	// CheckpointGroup's Release) by ReleaseBy; after that the lease is
	// taken from it.
	Release   bool
	ReleaseBy time.Time
}

// GroupAssignment is what a member holds after a join or a heartbeat.
type GroupAssignment struct {
	Leases []GroupLease
	// FailoverTime is the group's; a member should heartbeat every
	// HeartbeatInterval (a third of it).
	FailoverTime      time.Duration
	HeartbeatInterval time.Duration
}

// GroupOptions configures a group when JoinGroup creates it.
type GroupOptions struct {
	// FailoverTime: default DefaultFailoverTime. Given on a join to an
	// existing group, it changes the group's.
	FailoverTime time.Duration
	// StartAtLatest makes a new group start at the tip of every open shard
	// instead of at the first record.
	StartAtLatest bool
}

// GroupCheckpointInput is a checkpoint from a lease's owner.
type GroupCheckpointInput struct {
	Member, Shard string
	Epoch         uint64
	Checkpoint    GroupCheckpoint
	// Release gives the lease up after the checkpoint.
	Release bool
}

// GroupMemberInfo describes a member of a group.
type GroupMemberInfo struct {
	Name          string
	LastHeartbeat time.Time
	Leases        int
}

// GroupShardInfo describes a group's progress in one shard.
type GroupShardInfo struct {
	Shard      string
	Owner      string // "" when not leased
	Epoch      uint64
	Releasing  bool
	Checkpoint GroupCheckpoint
	Closed     bool
	// Waiting says the shard is not leased because a parent is not
	// finished.
	Waiting bool
	// LagRecords is how many records of the shard follow the checkpoint;
	// LagMillis is the age of the oldest of them (0 when none).
	LagRecords, LagMillis int64
}

// GroupInfo describes a group.
type GroupInfo struct {
	Stream, Name string
	FailoverTime time.Duration
	Created      time.Time
	Members      []GroupMemberInfo
	Shards       []GroupShardInfo
	// LeaseMoves counts leases given to a new owner that another member
	// held; FencedCheckpoints counts checkpoints refused from a member
	// that no longer held the lease (both since the server started).
	LeaseMoves, FencedCheckpoints uint64
}

type groupMember struct {
	seen time.Time // last call
}

type groupLease struct {
	owner     string // "" while not held
	epoch     uint64
	releaseBy time.Time // set: the owner was asked to release it
	to        string    // the member a rebalance moves it to
	last      string    // the owner it was last given to, for counting moves
}

type group struct {
	name     string
	failover time.Duration
	start    uint8
	created  int64
	members  map[string]*groupMember
	leases   map[int]*groupLease
	cps      map[int]checkpoint
	moves    uint64
	fenced   uint64
}

// groupSet is one stream's groups and group log.
type groupSet struct {
	mu     sync.Mutex // guards everything below
	inc    uint32
	dir    string
	log    *groupLog // nil until the first change of a stream with no log
	groups map[string]*group
	// replica says the groups change only through replicated changes
	// (change_groups.go): the log holds members and moves too, and
	// applied is the index of the last change it holds.
	replica bool
	applied uint64
	// collect makes persistGroups write nothing while a replicated change
	// is applied: the change writes what it changed, whole, at its end.
	collect bool
	// changed is closed (and replaced) after every call that may change a
	// group of the stream: a join, heartbeat, checkpoint, leave, reset or
	// delete. Nil until someone asks for it (GroupsChanged).
	changed chan struct{}
}

// lockGroups finds the stream's group set and locks it for a call that may
// change its groups; the caller releases it with unlock.
func (e *Engine) lockGroups(stream string) (*groupSet, *stream, error) {
	gs, st, err := e.groupSetOf(stream)
	if err != nil {
		return nil, nil, err
	}
	gs.mu.Lock()
	return gs, st, nil
}

// unlock ends a call begun with lockGroups: it wakes whoever watches the
// set's groups (GroupsChanged) and unlocks the set.
func (gs *groupSet) unlock() {
	gs.touch()
	gs.mu.Unlock()
}

// touch wakes whoever waits for a change of the set's groups. gs.mu must
// be held.
func (gs *groupSet) touch() {
	if gs.changed != nil {
		close(gs.changed)
		gs.changed = nil
	}
}

// GroupsChanged returns a channel that is closed after the next call that
// may change a consumer group of the stream (a join, heartbeat,
// checkpoint, leave, reset or delete, whatever its outcome), for whoever
// watches a group's members and leases without polling.
func (e *Engine) GroupsChanged(stream string) (<-chan struct{}, error) {
	gs, _, err := e.groupSetOf(stream)
	if err != nil {
		return nil, err
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.changed == nil {
		gs.changed = make(chan struct{})
	}
	return gs.changed, nil
}

// groupRegistry holds the group sets by stream name.
type groupRegistry struct {
	mu   sync.Mutex // guards sets; never held while taking Engine.mu
	sets map[string]*groupSet
}

// shardView is what assignment needs of a shard's catalog entry.
type shardView struct {
	idx, parent, adj int
	closed           bool
}

func newGroup(name string, failover time.Duration, start uint8, created int64) *group {
	return &group{name: name, failover: failover, start: start, created: created,
		members: map[string]*groupMember{}, leases: map[int]*groupLease{}, cps: map[int]checkpoint{}}
}

// apply applies a replayed record.
func (gs *groupSet) apply(r groupRecord, now time.Time) {
	g := gs.groups[r.Group]
	switch r.Type {
	case groupRecGroup:
		if g == nil {
			gs.groups[r.Group] = newGroup(r.Group, time.Duration(r.Failover)*time.Millisecond, r.Start, r.Created)
			return
		}
		g.failover = time.Duration(r.Failover) * time.Millisecond
	case groupRecDelete:
		delete(gs.groups, r.Group)
	case groupRecCheckpoint:
		if g == nil {
			return
		}
		if cpKind(r.Kind) == cpNone {
			delete(g.cps, int(r.Shard))
		} else {
			g.cps[int(r.Shard)] = checkpoint{kind: cpKind(r.Kind), seq: r.Seq, sub: r.Sub}
		}
	case groupRecLease:
		if g == nil {
			return
		}
		l := g.leases[int(r.Shard)]
		if l == nil {
			l = &groupLease{}
			g.leases[int(r.Shard)] = l
		}
		l.owner, l.epoch = r.Owner, max(l.epoch, r.Epoch)
		if r.Owner != "" {
			l.last = r.Owner
		}
		l.releaseBy, l.to = time.Time{}, ""
		if r.Owner != "" && g.members[r.Owner] == nil && !gs.replica {
			// The owner gets a failover time from now to call again.
			g.members[r.Owner] = &groupMember{seen: now}
		}
	case groupRecMember:
		if g == nil {
			return
		}
		if r.At == 0 {
			delete(g.members, r.Member)
		} else {
			g.members[r.Member] = &groupMember{seen: time.Unix(0, r.At)}
		}
	case groupRecMove:
		if l := g.leaseOf(int(r.Shard)); l != nil {
			l.to, l.releaseBy = r.Member, unixTime(r.At)
		}
	case groupRecApplied:
		gs.applied = max(gs.applied, r.Index)
	}
}

// leaseOf is g's lease of shard idx, nil if g is nil or has none.
func (g *group) leaseOf(idx int) *groupLease {
	if g == nil {
		return nil
	}
	return g.leases[idx]
}

// unixTime is the time of Unix ns n, the zero time for 0.
func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// unixNano is t in Unix ns, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// openGroups replays the group log of every stream that has one. Called by
// Open.
func (e *Engine) openGroups() error {
	for name, st := range e.streams {
		dir := e.streamDir(st.inc)
		if _, err := e.fs.Stat(filepath.Join(dir, groupLogName)); err != nil {
			continue
		}
		gs, err := e.loadGroupSet(st.inc, dir)
		if err != nil {
			return err
		}
		e.groups.put(name, gs)
	}
	return nil
}

func (e *Engine) loadGroupSet(inc uint32, dir string) (*groupSet, error) {
	gs := &groupSet{inc: inc, dir: dir, groups: map[string]*group{}, replica: e.replicated()}
	now := e.now()
	l, err := openGroupLog(e.fs, dir, func(r groupRecord) { gs.apply(r, now) })
	if err != nil {
		return nil, err
	}
	gs.log = l
	return gs, nil
}

func (r *groupRegistry) put(name string, gs *groupSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sets == nil {
		r.sets = map[string]*groupSet{}
	}
	r.sets[name] = gs
}

// drop forgets a deleted stream's groups (its directory, group log
// included, is removed with it). Called with Engine.mu held, so the set's
// own lock, whose holders take Engine.mu, is taken on a goroutine of its
// own to close the log.
func (r *groupRegistry) drop(name string) {
	r.mu.Lock()
	gs := r.sets[name]
	delete(r.sets, name)
	r.mu.Unlock()
	if gs != nil {
		go func() {
			gs.mu.Lock()
			defer gs.mu.Unlock()
			if gs.log != nil {
				gs.log.close()
				gs.log = nil
			}
			gs.groups = map[string]*group{}
		}()
	}
}

// closeAll closes every group log (engine Close).
func (r *groupRegistry) closeAll() {
	r.mu.Lock()
	sets := r.sets
	r.sets = nil
	r.mu.Unlock()
	for _, gs := range sets {
		gs.mu.Lock()
		if gs.log != nil {
			gs.log.close()
			gs.log = nil
		}
		gs.mu.Unlock()
	}
}

// groupSetOf returns the group set of a stream, with the stream, loading it
// (an empty one if the stream has no group log yet).
func (e *Engine) groupSetOf(name string) (*groupSet, *stream, error) {
	st, err := e.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	e.groups.mu.Lock()
	defer e.groups.mu.Unlock()
	if e.shut.Load() {
		return nil, nil, ErrClosed
	}
	if gs := e.groups.sets[name]; gs != nil && gs.inc == st.inc {
		return gs, st, nil
	}
	gs, err := e.loadGroupSet(st.inc, e.streamDir(st.inc))
	if errors.Is(err, os.ErrNotExist) {
		// The stream's directory is gone: deleted meanwhile.
		return nil, nil, api.StreamNotFound(name)
	}
	if err != nil {
		return nil, nil, &api.Error{Code: api.CodeInternal, Detail: "open group log", Err: err}
	}
	if e.groups.sets == nil {
		e.groups.sets = map[string]*groupSet{}
	}
	e.groups.sets[name] = gs
	return gs, st, nil
}

// shardViews copies the stream's shard lineage.
func (e *Engine) shardViews(st *stream) []shardView {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]shardView, len(st.meta.Shards))
	for i, sm := range st.meta.Shards {
		out[i] = shardView{idx: sm.Index, parent: sm.Parent, adj: sm.AdjacentParent, closed: sm.Closed}
	}
	return out
}

func checkGroupName(s string) error {
	if !validName(s) {
		return errorf(api.CodeInvalidArgument,
			"group name %q is invalid: it must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", clip(s))
	}
	return nil
}

func checkMemberName(s string) error {
	if len(s) == 0 || len(s) > MaxMemberNameLen || !utf8.ValidString(s) {
		return errorf(api.CodeInvalidArgument,
			"member name %q is invalid: it must be 1 to %d bytes of UTF-8", clip(s), MaxMemberNameLen)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return errorf(api.CodeInvalidArgument, "member name %q holds a control character; use printable characters", clip(s))
		}
	}
	return nil
}

func groupNotFound(stream, name string) error {
	return &api.Error{Code: api.CodeResourceNotFound, Stream: stream,
		Detail: "consumer group " + name + " not found on stream " + stream + "; a member creates it with JoinGroup"}
}

// persist appends recs to the group log (creating it) and syncs. Called
// with gs.mu held.
func (e *Engine) persistGroups(gs *groupSet, recs ...groupRecord) error {
	if len(recs) == 0 || gs.collect {
		return nil
	}
	if gs.log == nil {
		l, err := openGroupLog(e.fs, gs.dir, func(groupRecord) {})
		if err != nil {
			return &api.Error{Code: api.CodeInternal, Detail: "open group log", Err: err}
		}
		gs.log = l
	}
	if err := gs.log.appendSync(recs...); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "write group log", Err: err}
	}
	if gs.log.size > compactMinBytes {
		snap := gs.snapshot()
		if est := int64(len(snap)) * 64; gs.log.size > 4*est {
			if err := gs.log.rewrite(snap); err != nil {
				e.opts.Logger.Warn("could not compact a stream's group log; it keeps growing", "dir", gs.dir, "err", err)
			}
		}
	}
	return nil
}

// snapshot is the records that rebuild the set's durable state.
func (gs *groupSet) snapshot() []groupRecord {
	var recs []groupRecord
	for _, g := range gs.groups {
		recs = append(recs, groupRecord{Type: groupRecGroup, Group: g.name, Failover: uint64(g.failover / time.Millisecond), Start: g.start, Created: g.created})
		for idx, c := range g.cps {
			recs = append(recs, groupRecord{Type: groupRecCheckpoint, Group: g.name, Shard: uint32(idx), Kind: uint8(c.kind), Seq: c.seq, Sub: c.sub})
		}
		for idx, l := range g.leases {
			recs = append(recs, groupRecord{Type: groupRecLease, Group: g.name, Shard: uint32(idx), Owner: l.owner, Epoch: l.epoch})
			if gs.replica && (l.to != "" || !l.releaseBy.IsZero()) {
				recs = append(recs, groupRecord{Type: groupRecMove, Group: g.name, Shard: uint32(idx), Member: l.to, At: unixNano(l.releaseBy)})
			}
		}
		if gs.replica {
			for name, m := range g.members {
				recs = append(recs, groupRecord{Type: groupRecMember, Group: g.name, Member: name, At: unixNano(m.seen)})
			}
		}
	}
	if gs.replica && gs.applied > 0 {
		recs = append(recs, groupRecord{Type: groupRecApplied, Index: gs.applied})
	}
	return recs
}

// assign brings g's leases up to date at now: members silent past the
// failover time are dropped and their leases freed, leases of shards that
// are finished or gone are dropped, a lease not released by its deadline is
// taken back, free shards whose parents are finished are given to the least
// loaded members, and one lease at most per member starts moving when the
// members' loads differ by more than one. It returns the lease records to
// persist.
func (g *group) assign(now time.Time, shards []shardView) []groupRecord {
	for name, m := range g.members {
		if now.Sub(m.seen) > g.failover {
			delete(g.members, name)
		}
	}
	present := make(map[int]bool, len(shards))
	for _, s := range shards {
		present[s.idx] = true
	}
	for idx, l := range g.leases {
		switch {
		case !present[idx]:
			delete(g.leases, idx)
			delete(g.cps, idx)
			continue
		case g.cps[idx].kind == cpEnd:
			l.owner, l.releaseBy, l.to = "", time.Time{}, ""
		case l.owner != "" && g.members[l.owner] == nil:
			l.owner, l.releaseBy, l.to = "", time.Time{}, ""
		case !l.releaseBy.IsZero() && now.After(l.releaseBy):
			l.owner, l.releaseBy = "", time.Time{}
		}
	}
	for idx := range g.cps {
		if !present[idx] {
			delete(g.cps, idx)
		}
	}
	if len(g.members) == 0 {
		return nil
	}
	load := make(map[string]int, len(g.members))
	for name := range g.members {
		load[name] = 0
	}
	for _, l := range g.leases {
		if l.owner != "" {
			load[l.owner]++
		}
	}
	finished := func(p int) bool { return p < 0 || !present[p] || g.cps[p].kind == cpEnd }
	var recs []groupRecord
	for _, s := range shards {
		if g.cps[s.idx].kind == cpEnd || !finished(s.parent) || !finished(s.adj) {
			continue
		}
		l := g.leases[s.idx]
		if l == nil {
			l = &groupLease{}
			g.leases[s.idx] = l
		}
		if l.owner != "" {
			continue
		}
		to := l.to
		if to == "" || g.members[to] == nil {
			to = leastLoaded(load)
		}
		if l.epoch > 0 && l.last != to {
			g.moves++
		}
		l.owner, l.epoch, l.to, l.releaseBy, l.last = to, l.epoch+1, "", time.Time{}, to
		load[to]++
		recs = append(recs, groupRecord{Type: groupRecLease, Group: g.name, Shard: uint32(s.idx), Owner: to, Epoch: l.epoch})
	}
	g.balance(now, load)
	return recs
}

// balance starts a move from the most to the least loaded member when their
// loads (counting moves under way) differ by more than one. A member sends
// and receives at most one lease at a time, and a move only starts when it
// narrows the difference, so leases do not flap.
func (g *group) balance(now time.Time, load map[string]int) {
	busy := map[string]bool{}
	for _, l := range g.leases {
		if l.owner != "" && !l.releaseBy.IsZero() {
			busy[l.owner], busy[l.to] = true, true
			load[l.owner]--
			load[l.to]++
		}
	}
	var hi, lo string
	for name, n := range load {
		if busy[name] {
			continue
		}
		if hi == "" || n > load[hi] || n == load[hi] && name < hi {
			hi = name
		}
		if lo == "" || n < load[lo] || n == load[lo] && name < lo {
			lo = name
		}
	}
	if hi == "" || hi == lo || load[hi]-load[lo] <= 1 {
		return
	}
	// Move hi's highest shard: the newest, least likely to be mid-way.
	pick := -1
	for idx, l := range g.leases {
		if l.owner == hi && l.releaseBy.IsZero() && idx > pick {
			pick = idx
		}
	}
	if pick < 0 {
		return
	}
	l := g.leases[pick]
	l.releaseBy, l.to = now.Add(g.failover), lo
}

func leastLoaded(load map[string]int) string {
	best := ""
	for name, n := range load {
		if best == "" || n < load[best] || n == load[best] && name < best {
			best = name
		}
	}
	return best
}

func (e *Engine) publicCheckpoint(st *stream, idx int, c checkpoint) GroupCheckpoint {
	switch c.kind {
	case cpEnd:
		return GroupCheckpoint{ShardEnd: true}
	case cpPartial, cpWhole:
		return GroupCheckpoint{Seq: api.SeqNum{Incarnation: st.inc, Shard: uint32(idx), Seq: c.seq}.String(),
			SubSeq: c.sub, Whole: c.kind == cpWhole}
	}
	return GroupCheckpoint{}
}

// assignment is member's view of g. Called with gs.mu held.
func (e *Engine) assignment(st *stream, g *group, member string) GroupAssignment {
	a := GroupAssignment{FailoverTime: g.failover, HeartbeatInterval: g.failover / 3}
	idxs := make([]int, 0, len(g.leases))
	for idx, l := range g.leases {
		if l.owner == member {
			idxs = append(idxs, idx)
		}
	}
	sort.Ints(idxs)
	for _, idx := range idxs {
		l := g.leases[idx]
		a.Leases = append(a.Leases, GroupLease{Shard: api.ShardID(idx), Epoch: l.epoch,
			Checkpoint: e.publicCheckpoint(st, idx, g.cps[idx]), Release: !l.releaseBy.IsZero(), ReleaseBy: l.releaseBy})
	}
	return a
}

// JoinGroup makes member a member of group on stream, creating the group
// (with opts) if it does not exist, and returns the member's leases. A
// member calls it again (or GroupHeartbeat) every HeartbeatInterval.
func (e *Engine) JoinGroup(stream, group, member string, opts GroupOptions) (GroupAssignment, error) {
	if err := checkGroupName(group); err != nil {
		return GroupAssignment{}, err
	}
	if err := checkMemberName(member); err != nil {
		return GroupAssignment{}, err
	}
	if opts.FailoverTime != 0 && (opts.FailoverTime < MinFailoverTime || opts.FailoverTime > MaxFailoverTime) {
		return GroupAssignment{}, errorf(api.CodeInvalidArgument,
			"failover time is %v; it must be between %v and %v", opts.FailoverTime, MinFailoverTime, MaxFailoverTime)
	}
	if e.replicated() {
		return e.proposeJoin(stream, group, member, opts)
	}
	gs, st, err := e.lockGroups(stream)
	if err != nil {
		return GroupAssignment{}, err
	}
	defer gs.unlock()
	return e.joinLocked(gs, st, group, member, opts, e.now(), func() (map[int]checkpoint, error) {
		return e.tipCheckpoints(st, e.shardViews(st))
	})
}

// joinLocked is JoinGroup's change at now; tips gives the checkpoints a
// group that starts at the latest records begins with. Called with gs.mu
// held.
func (e *Engine) joinLocked(gs *groupSet, st *stream, group, member string, opts GroupOptions, now time.Time,
	tips func() (map[int]checkpoint, error)) (GroupAssignment, error) {
	g := gs.groups[group]
	var recs []groupRecord
	if g == nil {
		fo := opts.FailoverTime
		if fo == 0 {
			fo = DefaultFailoverTime
		}
		start := uint8(0)
		if opts.StartAtLatest {
			start = 1
		}
		g = newGroup(group, fo, start, now.UnixNano())
		recs = append(recs, groupRecord{Type: groupRecGroup, Group: group, Failover: uint64(fo / time.Millisecond), Start: start, Created: g.created})
		if opts.StartAtLatest {
			cps, err := tips()
			if err != nil {
				return GroupAssignment{}, err
			}
			for idx, c := range cps {
				g.cps[idx] = c
				recs = append(recs, groupRecord{Type: groupRecCheckpoint, Group: group, Shard: uint32(idx), Kind: uint8(c.kind), Seq: c.seq, Sub: c.sub})
			}
		}
		if err := e.persistGroups(gs, recs...); err != nil {
			return GroupAssignment{}, err
		}
		gs.groups[group] = g
		recs = nil
	} else if opts.FailoverTime != 0 && opts.FailoverTime != g.failover {
		if err := e.persistGroups(gs, groupRecord{Type: groupRecGroup, Group: group, Failover: uint64(opts.FailoverTime / time.Millisecond), Start: g.start, Created: g.created}); err != nil {
			return GroupAssignment{}, err
		}
		g.failover = opts.FailoverTime
	}
	return e.heartbeatLocked(gs, st, g, member, now)
}

// heartbeatLocked records member's call, reassigns and persists.
func (e *Engine) heartbeatLocked(gs *groupSet, st *stream, g *group, member string, now time.Time) (GroupAssignment, error) {
	m := g.members[member]
	if m == nil {
		m = &groupMember{}
		g.members[member] = m
	}
	m.seen = now
	if err := e.reassign(gs, st, g, now); err != nil {
		return GroupAssignment{}, err
	}
	return e.assignment(st, g, member), nil
}

// reassign runs assignment and persists the new owners. On a write failure
// the new owners are not handed out: the leases go back to being free.
func (e *Engine) reassign(gs *groupSet, st *stream, g *group, now time.Time) error {
	recs := g.assign(now, e.shardViews(st))
	if err := e.persistGroups(gs, recs...); err != nil {
		for _, r := range recs {
			if l := g.leases[int(r.Shard)]; l != nil && l.epoch == r.Epoch {
				l.owner = ""
			}
		}
		return err
	}
	return nil
}

// GroupHeartbeat keeps member alive in group and returns its leases. A
// member the group does not know (after a restart of the server, or after
// its failover time passed) joins again.
func (e *Engine) GroupHeartbeat(stream, group, member string) (GroupAssignment, error) {
	if err := checkGroupName(group); err != nil {
		return GroupAssignment{}, err
	}
	if err := checkMemberName(member); err != nil {
		return GroupAssignment{}, err
	}
	if e.replicated() {
		return e.proposeHeartbeat(stream, group, member)
	}
	gs, st, err := e.lockGroups(stream)
	if err != nil {
		return GroupAssignment{}, err
	}
	defer gs.unlock()
	return e.heartbeatGroup(gs, st, group, member, e.now())
}

// heartbeatGroup is GroupHeartbeat's change at now. Called with gs.mu held.
func (e *Engine) heartbeatGroup(gs *groupSet, st *stream, group, member string, now time.Time) (GroupAssignment, error) {
	g := gs.groups[group]
	if g == nil {
		return GroupAssignment{}, groupNotFound(st.name, group)
	}
	return e.heartbeatLocked(gs, st, g, member, now)
}

// CheckpointGroup records how far in.Member got in in.Shard, and releases
// the lease if in.Release. It is refused (ResourceInUseException) unless
// the member holds the lease at in.Epoch (the message opens with "lease
// lost"), and (InvalidArgumentException)
// if it would move the checkpoint back. It returns once the checkpoint is
// durable.
func (e *Engine) CheckpointGroup(stream, group string, in GroupCheckpointInput) error {
	if err := checkGroupName(group); err != nil {
		return err
	}
	idx, err := api.ParseShardID(in.Shard)
	if err != nil {
		return err
	}
	if e.replicated() {
		return e.proposeCheckpoint(stream, group, idx, in)
	}
	gs, st, err := e.lockGroups(stream)
	if err != nil {
		return err
	}
	defer gs.unlock()
	return e.checkpointLocked(gs, st, group, idx, in, e.now(), func() (checkpoint, error) {
		return e.parseCheckpoint(st, idx, in.Checkpoint)
	})
}

// checkpointLocked is CheckpointGroup's change of shard idx at now; parse
// checks and decodes in.Checkpoint. Called with gs.mu held.
func (e *Engine) checkpointLocked(gs *groupSet, st *stream, group string, idx int, in GroupCheckpointInput, now time.Time,
	parse func() (checkpoint, error)) error {
	g := gs.groups[group]
	if g == nil {
		return groupNotFound(st.name, group)
	}
	// Judge the lease as of now: an owner silent past its failover time
	// has lost it, even if nobody has called since.
	if err := e.reassign(gs, st, g, now); err != nil {
		return err
	}
	l := g.leases[idx]
	if l == nil || l.owner != in.Member || l.epoch != in.Epoch {
		g.fenced++
		owner, epoch := "", uint64(0)
		if l != nil {
			owner, epoch = l.owner, l.epoch
		}
		if owner == "" {
			owner = "nobody"
		}
		return errorf(api.CodeResourceInUse,
			"lease lost: member %s does not hold the lease of %s at epoch %d (it is held by %s at epoch %d); stop processing the shard, this checkpoint was not recorded",
			clip(in.Member), in.Shard, in.Epoch, clip(owner), epoch)
	}
	g.members[in.Member].seen = now
	// A release with no checkpoint leaves the checkpoint where it is (a
	// member handing over a shard it read nothing of).
	keep := in.Release && in.Checkpoint == (GroupCheckpoint{})
	var c checkpoint
	if !keep {
		var err error
		if c, err = parse(); err != nil {
			return err
		}
	}
	old := g.cps[idx]
	if keep {
		c = old
	}
	if c.before(old) {
		return errorf(api.CodeInvalidArgument,
			"checkpoint of %s would move back from %s to %s; only a group reset moves a checkpoint back",
			in.Shard, describeCheckpoint(e.publicCheckpoint(st, idx, old)), describeCheckpoint(in.Checkpoint))
	}
	recs := []groupRecord{{Type: groupRecCheckpoint, Group: group, Shard: uint32(idx), Kind: uint8(c.kind), Seq: c.seq, Sub: c.sub}}
	if in.Release {
		recs = append(recs, groupRecord{Type: groupRecLease, Group: group, Shard: uint32(idx), Epoch: l.epoch})
	}
	if err := e.persistGroups(gs, recs...); err != nil {
		return err
	}
	g.cps[idx] = c
	if in.Release {
		l.owner, l.releaseBy = "", time.Time{}
	}
	if in.Release || c.kind == cpEnd {
		return e.reassign(gs, st, g, now)
	}
	return nil
}

func describeCheckpoint(c GroupCheckpoint) string {
	switch {
	case c.ShardEnd:
		return "SHARD_END"
	case c.Seq == "":
		return "the shard's start"
	case c.Whole:
		return c.Seq
	}
	return c.Seq + " sub-sequence " + uintString(c.SubSeq)
}

func uintString(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// parseCheckpoint checks a checkpoint given for shard idx of st.
func (e *Engine) parseCheckpoint(st *stream, idx int, in GroupCheckpoint) (checkpoint, error) {
	sh := st.shard(idx)
	if sh == nil {
		return checkpoint{}, api.ShardNotFound(st.name, api.ShardID(idx))
	}
	if in.ShardEnd {
		if !sh.isClosed() {
			return checkpoint{}, errorf(api.CodeInvalidArgument,
				"%s is open; SHARD_END is a checkpoint of a closed shard read to its end", api.ShardID(idx))
		}
		return checkpoint{kind: cpEnd}, nil
	}
	if in.Seq == "" {
		return checkpoint{}, errorf(api.CodeInvalidArgument, "a checkpoint needs a sequence number or SHARD_END")
	}
	sn, err := api.ParseSeqNum(in.Seq)
	if err != nil {
		return checkpoint{}, err
	}
	if sn.Incarnation != st.inc || int(sn.Shard) != idx || sn.IsStart() {
		return checkpoint{}, errorf(api.CodeInvalidArgument,
			"sequence number %s is not one of a record of %s of stream %s", clip(in.Seq), api.ShardID(idx), st.name)
	}
	_, next, err := sh.bounds()
	if err != nil {
		return checkpoint{}, err
	}
	if sn.Seq >= next {
		return checkpoint{}, errorf(api.CodeInvalidArgument,
			"sequence number %s is beyond the last record of %s; checkpoint only records read", clip(in.Seq), api.ShardID(idx))
	}
	c := checkpoint{kind: cpPartial, seq: sn.Seq, sub: in.SubSeq}
	if in.Whole {
		c.kind, c.sub = cpWhole, 0
	}
	return c, nil
}

// tipCheckpoints are checkpoints at the tip of every shard: SHARD_END for
// closed ones, the last record for open ones (none for an empty one).
func (e *Engine) tipCheckpoints(st *stream, shards []shardView) (map[int]checkpoint, error) {
	out := map[int]checkpoint{}
	for _, s := range shards {
		if s.closed {
			out[s.idx] = checkpoint{kind: cpEnd}
			continue
		}
		sh := st.shard(s.idx)
		if sh == nil {
			continue
		}
		_, next, err := sh.bounds()
		if err != nil {
			return nil, err
		}
		if next > 0 {
			out[s.idx] = checkpoint{kind: cpWhole, seq: next - 1}
		}
	}
	return out, nil
}

// LeaveGroup removes member from group; its leases go to the other
// members at once. A member leaving gracefully checkpoints and releases its
// leases first.
func (e *Engine) LeaveGroup(stream, group, member string) error {
	if err := checkGroupName(group); err != nil {
		return err
	}
	if e.replicated() {
		return e.proposeLeave(stream, group, member)
	}
	gs, st, err := e.lockGroups(stream)
	if err != nil {
		return err
	}
	defer gs.unlock()
	return e.leaveLocked(gs, st, group, member, e.now)
}

// leaveLocked is LeaveGroup's change; now gives the time it is judged at.
// Called with gs.mu held.
func (e *Engine) leaveLocked(gs *groupSet, st *stream, group, member string, now func() time.Time) error {
	g := gs.groups[group]
	if g == nil {
		return groupNotFound(st.name, group)
	}
	delete(g.members, member)
	var recs []groupRecord
	for idx, l := range g.leases {
		if l.owner == member {
			l.owner, l.releaseBy, l.to = "", time.Time{}, ""
			recs = append(recs, groupRecord{Type: groupRecLease, Group: group, Shard: uint32(idx), Epoch: l.epoch})
		}
	}
	if err := e.persistGroups(gs, recs...); err != nil {
		return err
	}
	return e.reassign(gs, st, g, now())
}

// ListGroups names the groups of a stream, sorted.
func (e *Engine) ListGroups(stream string) ([]string, error) {
	gs, _, err := e.groupSetOf(stream)
	if err != nil {
		return nil, err
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	out := make([]string, 0, len(gs.groups))
	for name := range gs.groups {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// DescribeGroup describes a group: its members, and per shard its lease,
// checkpoint and lag.
func (e *Engine) DescribeGroup(stream, group string) (*GroupInfo, error) {
	if err := checkGroupName(group); err != nil {
		return nil, err
	}
	gs, st, err := e.groupSetOf(stream)
	if err != nil {
		return nil, err
	}
	gs.mu.Lock()
	g := gs.groups[group]
	if g == nil {
		gs.mu.Unlock()
		return nil, groupNotFound(stream, group)
	}
	now := e.now()
	shards := e.shardViews(st)
	// On a replica the groups change only through replicated changes: it
	// describes the state as of the last one applied here, the same on
	// every node that applied as far.
	if !gs.replica {
		if err := e.reassign(gs, st, g, now); err != nil {
			gs.mu.Unlock()
			return nil, err
		}
	}
	info := &GroupInfo{Stream: stream, Name: g.name, FailoverTime: g.failover, Created: time.Unix(0, g.created),
		LeaseMoves: g.moves, FencedCheckpoints: g.fenced}
	for name, m := range g.members {
		mi := GroupMemberInfo{Name: name, LastHeartbeat: m.seen}
		for _, l := range g.leases {
			if l.owner == name {
				mi.Leases++
			}
		}
		info.Members = append(info.Members, mi)
	}
	sort.Slice(info.Members, func(i, j int) bool { return info.Members[i].Name < info.Members[j].Name })
	cps := make([]checkpoint, len(shards))
	for i, s := range shards {
		si := GroupShardInfo{Shard: api.ShardID(s.idx), Closed: s.closed, Checkpoint: e.publicCheckpoint(st, s.idx, g.cps[s.idx])}
		if l := g.leases[s.idx]; l != nil {
			si.Owner, si.Epoch, si.Releasing = l.owner, l.epoch, !l.releaseBy.IsZero()
		}
		if g.cps[s.idx].kind != cpEnd && g.leases[s.idx] == nil {
			si.Waiting = true
		}
		cps[i] = g.cps[s.idx]
		info.Shards = append(info.Shards, si)
	}
	gs.mu.Unlock()
	// Lag is measured outside the group's lock: it reads the shards.
	for i, s := range shards {
		info.Shards[i].LagRecords, info.Shards[i].LagMillis = e.groupLag(st, s.idx, cps[i], now)
	}
	return info, nil
}

// groupLag is how many records of shard idx follow checkpoint c, and the
// age in ms of the oldest of them.
func (e *Engine) groupLag(st *stream, idx int, c checkpoint, now time.Time) (int64, int64) {
	if c.kind == cpEnd {
		return 0, 0
	}
	sh := st.shard(idx)
	if sh == nil {
		return 0, 0
	}
	first, next, err := sh.bounds()
	if err != nil {
		return 0, 0
	}
	at := c.resume(first)
	if at >= next {
		return 0, 0
	}
	var res ReadResult
	defer res.Release()
	pos := api.Position{Stream: st.name, Incarnation: st.inc, Shard: idx, Seq: at}
	// A subscription read: it does not count against the shard's quota.
	if err := e.Read(pos, 1, 1, ReadSubscription, &res); err != nil {
		return int64(next - at), 0
	}
	it := res.Iter()
	if r, ok := it.Next(); ok {
		return int64(next - at), max(0, now.UnixMilli()-r.Arrival/int64(time.Millisecond))
	}
	return int64(next - at), 0
}

// GroupReset says where ResetGroup moves a group's checkpoints.
type GroupReset struct {
	// To is api.TrimHorizon, api.Latest, api.AtTimestamp (with Time) or
	// api.AtSequenceNumber (with Seq: only that shard is reset, to read
	// from that record on).
	To   api.IteratorType
	Time time.Time
	Seq  string
}

// ResetGroup moves a group's checkpoints, backwards or forwards, and takes
// every lease back (the members get them again, at a new epoch, from the
// new checkpoints on their next heartbeat; a checkpoint from before the
// reset is refused).
func (e *Engine) ResetGroup(stream, group string, to GroupReset) error {
	if err := checkGroupName(group); err != nil {
		return err
	}
	if e.replicated() {
		return e.proposeReset(stream, group, to)
	}
	gs, st, err := e.groupSetOf(stream)
	if err != nil {
		return err
	}
	shards, cps, only, err := e.resetTargets(stream, st, to)
	if err != nil {
		return err
	}
	gs.mu.Lock()
	defer gs.unlock()
	return e.resetLocked(gs, st, group, shards, cps, only, e.now)
}

// resetTargets reads where to moves the checkpoints of the stream's shards:
// the checkpoints by shard (none: the shard's start) and the one shard
// reset (-1: all of them).
func (e *Engine) resetTargets(stream string, st *stream, to GroupReset) (shards []shardView, cps map[int]checkpoint, only int, err error) {
	shards = e.shardViews(st)
	cps = map[int]checkpoint{}
	only = -1
	switch to.To {
	case api.TrimHorizon:
	case api.Latest:
		if cps, err = e.tipCheckpoints(st, shards); err != nil {
			return nil, nil, 0, err
		}
	case api.AtTimestamp:
		for _, s := range shards {
			pos, err := e.GetIterator(stream, api.ShardID(s.idx), api.IteratorSpec{Type: api.AtTimestamp, Timestamp: to.Time})
			if err != nil {
				return nil, nil, 0, err
			}
			if pos.Seq > 0 {
				cps[s.idx] = checkpoint{kind: cpWhole, seq: pos.Seq - 1}
			}
		}
	case api.AtSequenceNumber:
		sn, err := api.ParseSeqNum(to.Seq)
		if err != nil {
			return nil, nil, 0, err
		}
		if sn.Incarnation != st.inc {
			return nil, nil, 0, errorf(api.CodeInvalidArgument, "sequence number %s is not one of stream %s", clip(to.Seq), stream)
		}
		only = int(sn.Shard)
		pos, err := e.GetIterator(stream, api.ShardID(only), api.IteratorSpec{Type: api.AtSequenceNumber, Seq: to.Seq})
		if err != nil {
			return nil, nil, 0, err
		}
		if pos.Seq > 0 {
			cps[only] = checkpoint{kind: cpWhole, seq: pos.Seq - 1}
		}
	default:
		return nil, nil, 0, errorf(api.CodeInvalidArgument, "reset target %q is not one of TRIM_HORIZON, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER", clip(string(to.To)))
	}
	return shards, cps, only, nil
}

// resetLocked is ResetGroup's change: the checkpoints of shards (only
// shard only, unless it is -1) move to cps. Called with gs.mu held.
func (e *Engine) resetLocked(gs *groupSet, st *stream, group string, shards []shardView, cps map[int]checkpoint, only int,
	now func() time.Time) error {
	g := gs.groups[group]
	if g == nil {
		return groupNotFound(st.name, group)
	}
	var recs []groupRecord
	for _, s := range shards {
		if only >= 0 && s.idx != only {
			continue
		}
		c := cps[s.idx]
		recs = append(recs, groupRecord{Type: groupRecCheckpoint, Group: group, Shard: uint32(s.idx), Kind: uint8(c.kind), Seq: c.seq, Sub: c.sub})
		if l := g.leases[s.idx]; l != nil && l.owner != "" {
			recs = append(recs, groupRecord{Type: groupRecLease, Group: group, Shard: uint32(s.idx), Epoch: l.epoch})
		}
	}
	if err := e.persistGroups(gs, recs...); err != nil {
		return err
	}
	for _, s := range shards {
		if only >= 0 && s.idx != only {
			continue
		}
		if c, ok := cps[s.idx]; ok {
			g.cps[s.idx] = c
		} else {
			delete(g.cps, s.idx)
		}
		if l := g.leases[s.idx]; l != nil {
			l.owner, l.releaseBy, l.to = "", time.Time{}, ""
		}
	}
	return e.reassign(gs, st, g, now())
}

// DeleteGroup removes a group with its checkpoints; its members' next
// heartbeat fails with ResourceNotFoundException.
func (e *Engine) DeleteGroup(stream, group string) error {
	if err := checkGroupName(group); err != nil {
		return err
	}
	if e.replicated() {
		return e.proposeDelete(stream, group)
	}
	gs, st, err := e.lockGroups(stream)
	if err != nil {
		return err
	}
	defer gs.unlock()
	return e.deleteLocked(gs, st, group)
}

// deleteLocked is DeleteGroup's change. Called with gs.mu held.
func (e *Engine) deleteLocked(gs *groupSet, st *stream, group string) error {
	if gs.groups[group] == nil {
		return groupNotFound(st.name, group)
	}
	if err := e.persistGroups(gs, groupRecord{Type: groupRecDelete, Group: group}); err != nil {
		return err
	}
	delete(gs.groups, group)
	return nil
}

// GroupMetrics is a group's progress in one shard, for /metrics.
type GroupMetrics struct {
	Stream, Group, Shard  string
	LagRecords, LagMillis int64
	// LeaseMoves and FencedCheckpoints are the group's (the same on each
	// of its shards).
	LeaseMoves, FencedCheckpoints uint64
}

// GroupMetrics reports every group of every stream, per shard.
func (e *Engine) GroupMetrics() []GroupMetrics {
	e.groups.mu.Lock()
	names := make([]string, 0, len(e.groups.sets))
	for name := range e.groups.sets {
		names = append(names, name)
	}
	e.groups.mu.Unlock()
	sort.Strings(names)
	var out []GroupMetrics
	for _, stream := range names {
		groups, err := e.ListGroups(stream)
		if err != nil {
			continue
		}
		for _, g := range groups {
			info, err := e.DescribeGroup(stream, g)
			if err != nil {
				continue
			}
			for _, s := range info.Shards {
				out = append(out, GroupMetrics{Stream: stream, Group: g, Shard: s.Shard, LagRecords: s.LagRecords,
					LagMillis: s.LagMillis, LeaseMoves: info.LeaseMoves, FencedCheckpoints: info.FencedCheckpoints})
			}
		}
	}
	return out
}
