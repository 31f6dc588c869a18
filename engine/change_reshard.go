package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/ticker"
)

// Resharding a replicated engine (SplitShard, MergeShards, UpdateShardCount
// on a cluster). The node that takes the call proposes, for each reshard:
//
//  1. a seal entry to each parent's group (replica_seal.go), whose applied
//     result is the parent's end sequence number, the same on every replica;
//  2. a Reshard change to the controller group, carrying the parents, their
//     ends and the children, which every node applies to its catalog: the
//     parents closed at those ends, the children opened with the same
//     indexes everywhere (the stream's NextShard).
//
// A node may apply the change before its replica of a parent has applied
// the parent's last records (or its seal): the parent is closed in the
// catalog at its end, routes no more puts, and goes on taking the committed
// records before its end from its group (a records entry at or after the
// end is refused everywhere, see sealedAt); readers see the end only when
// they reach it. Nothing waits on another group.
//
// What the proposer checked (the shards are open, adjacent, within the rate
// of UpdateShardCount) is checked again when the change is applied, against
// the catalog in the controller's order, since two nodes may race: the
// second change is refused on every node alike. The server's shard limit is
// checked when the reshard is proposed only: once its parents are sealed, a
// reshard is completed.

// Catalog change operations of resharding.
const (
	opReshard          = "Reshard"
	opAbortReshard     = "AbortReshard"
	opShardCountUpdate = "ShardCountUpdate"
)

type (
	reshardChild struct {
		Start          api.HashKey `json:"start"`
		End            api.HashKey `json:"end"`
		Parent         int         `json:"parent"`
		AdjacentParent int         `json:"adjacent_parent"`
	}
	// reshardArgs is a reshard: the seal entries carry it without Ends, as
	// the intent; the Reshard change with them.
	reshardArgs struct {
		Name        string         `json:"name"`
		Incarnation uint32         `json:"incarnation"`
		Token       string         `json:"token"`
		Parents     []int          `json:"parents"`
		Ends        []uint64       `json:"ends,omitempty"`
		Children    []reshardChild `json:"children"`
	}
	shardCountArgs struct {
		Name   string `json:"name"`
		Target int    `json:"target"`
	}
	// reshardRefused is the result of a Reshard change refused when it was
	// applied (on every node alike), beside the error saying why: the
	// proposer may then unseal the parents.
	reshardRefused struct{}
	// reshardDone is the result of an AbortReshard change that found the
	// reshard done.
	reshardDone struct{}
)

// applyReshardChange applies the changes of resharding; ok is false for any
// other operation.
func (e *Engine) applyReshardChange(c *Change) (res any, ok bool, err error) {
	now := time.Unix(0, c.Now)
	switch c.Op {
	case opReshard:
		var a reshardArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, true, err
		}
		if err := e.applyReshard(&a, now); err != nil {
			return reshardRefused{}, true, err
		}
		return nil, true, nil
	case opAbortReshard:
		var a reshardArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, true, err
		}
		done, err := e.applyAbortReshard(&a)
		if done {
			return reshardDone{}, true, nil
		}
		return nil, true, err
	case opShardCountUpdate:
		var a shardCountArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, true, err
		}
		return nil, true, e.updateStream(a.Name, func(m *streamMeta) error {
			if err := checkShardCountTarget(m, a.Target); err != nil {
				return err
			}
			h, err := checkShardCountRate(m, now)
			m.ShardCountUpdates = h
			return err
		})
	}
	return nil, false, nil
}

// reshardable refuses a reshard on a replica whose Replica does not order
// catalog changes.
func (e *Engine) reshardable(op string) error {
	if e.opts.Replica != nil && !e.replicated() {
		return e.notReplicated(op)
	}
	return nil
}

// doReshard closes parents and opens the children of specs: at once on a
// single node, through the cluster on a replica. Called with e.reshards
// held.
func (e *Engine) doReshard(st *stream, parents []int, specs []childSpec) error {
	if e.replicated() {
		return e.proposeReshard(st, parents, specs)
	}
	return e.reshard(st, parents, specs)
}

// reshardChangeTries is how many times a Reshard change whose outcome is
// unknown (no quorum, leader lost) is proposed again; applying it twice
// does nothing the second time.
const reshardChangeTries = 3

// proposeReshard seals the parents through their groups, then proposes the
// Reshard change. A seal refused (another reshard sealed the shard) or a
// change refused when applied unseals the parents, which then take records
// again. A change whose outcome stays unknown after reshardChangeTries is
// settled by an AbortReshard change: done, or abandoned and the parents
// unsealed; if that cannot be committed either, the parents stay sealed
// until the coordinator abandons the reshard (abandonStaleSeals).
func (e *Engine) proposeReshard(st *stream, parents []int, specs []childSpec) error {
	e.mu.RLock()
	err := e.checkShardCap(0, len(specs))
	e.mu.RUnlock()
	if err != nil {
		return err
	}
	var token [sealTokenLen]byte
	if _, err := rand.Read(token[:]); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "draw a reshard token", Err: err}
	}
	a := reshardArgs{Name: st.name, Incarnation: st.inc, Token: hex.EncodeToString(token[:]), Parents: parents}
	for _, sp := range specs {
		a.Children = append(a.Children, reshardChild{Start: sp.start, End: sp.end, Parent: sp.parent, AdjacentParent: sp.adjacentParent})
	}
	intent, err := json.Marshal(a)
	if err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "encode a reshard", Err: err}
	}
	seal := EncodeSealEntry(true, token, intent)
	for _, p := range parents {
		end, err := e.opts.Replica.Append(st.inc, p, seal)
		if err != nil {
			// The seal of p may have been applied even so (its outcome
			// unknown): unseal it with the others.
			e.unseal(st, parents, token)
			return refusal(err)
		}
		a.Ends = append(a.Ends, end)
	}
	var err2 error
	for try := 0; try < reshardChangeTries; try++ {
		v, err := e.change(opReshard, a)
		if err == nil {
			return nil
		}
		if _, refused := v.(reshardRefused); refused {
			e.unseal(st, parents, token)
			return err
		}
		if err2 = err; errors.Is(err, ErrClosed) {
			break
		}
	}
	// The change's outcome is unknown: the controller decides, in its
	// order, whether it was done or is abandoned.
	done, err := e.abandonReshard(&a)
	switch {
	case err != nil:
		e.opts.Logger.Error("a reshard sealed its parents but neither its catalog change nor its abandonment could be committed; the coordinator abandons it later",
			"stream", st.name, "parents", parents, "err", err)
	case done:
		return nil
	default:
		e.unseal(st, parents, token)
	}
	return err2
}

// abandonReshard proposes the abandonment of a reshard whose seals may be
// applied and whose catalog change's outcome is unknown. done reports that
// the controller had applied the change; otherwise every later Reshard
// change of it is refused, and the caller may unseal its parents.
func (e *Engine) abandonReshard(a *reshardArgs) (done bool, err error) {
	ab := *a
	ab.Ends = nil
	v, err := e.change(opAbortReshard, ab)
	if _, ok := v.(reshardDone); ok {
		return true, nil
	}
	return false, err
}

// applyAbortReshard applies an AbortReshard change: done if the catalog
// closed a parent with the reshard; otherwise the reshard's token is kept
// among each open parent's aborted ones.
func (e *Engine) applyAbortReshard(a *reshardArgs) (done bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.openStreamLocked(a.Name)
	if err == nil && st.inc != a.Incarnation {
		err = api.StreamNotFound(a.Name)
	}
	if err != nil {
		return false, err
	}
	next := st.meta.clone()
	for _, p := range a.Parents {
		sm := findShardMeta(next, p)
		if sm == nil {
			continue
		}
		if sm.Closed {
			if sm.ClosedBy == a.Token {
				return true, nil
			}
			continue
		}
		if slices.Contains(sm.Aborted, a.Token) {
			continue
		}
		ab := append(slices.Clip(sm.Aborted), a.Token)
		if len(ab) > maxAborted {
			ab = ab[len(ab)-maxAborted:]
		}
		sm.Aborted = ab
	}
	if err := e.persist(st.name, next); err != nil {
		return false, err
	}
	st.meta = next
	shards := *st.shards.Load()
	for _, sm := range next.Shards {
		if sh := shards[sm.Index]; sh != nil {
			sh.meta = sm
		}
	}
	return false, nil
}

// maxAborted is how many abandoned reshards a shard remembers. A reshard is
// abandoned only after its proposer's tries (or reshardAbandonAfter), so
// its change does not come later than the next few abandonments.
const maxAborted = 8

// unseal proposes the unseal of every parent a reshard sealed; an unseal of
// a shard the reshard did not seal does nothing.
func (e *Engine) unseal(st *stream, parents []int, token [sealTokenLen]byte) {
	entry := EncodeSealEntry(false, token, nil)
	for _, p := range parents {
		if _, err := e.opts.Replica.Append(st.inc, p, entry); err != nil {
			e.opts.Logger.Error("could not unseal a shard after a refused reshard; it takes no records until it is",
				"stream", st.name, "shard", api.ShardID(p), "err", err)
		}
	}
}

// applyReshard applies a Reshard change: it checks it against the catalog
// and closes the parents at their ends and opens the children, as reshard
// does on a single node, without waiting for the parents' writers (their
// groups go on applying the records before their ends). A change applied
// already (proposed again after an unknown outcome, or applied again after
// a restart) does nothing.
func (e *Engine) applyReshard(a *reshardArgs, now time.Time) error {
	e.mu.Lock()
	st, err := e.openStreamLocked(a.Name)
	if err == nil && st.inc != a.Incarnation {
		err = api.StreamNotFound(a.Name)
	}
	var first int
	if err == nil {
		var done bool
		done, err = checkReshard(st.meta, a)
		if done {
			e.mu.Unlock()
			return nil
		}
		first = st.meta.NextShard
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}

	children := make([]*shardMeta, len(a.Children))
	opened := make([]*shard, 0, len(children))
	for i, c := range a.Children {
		cm := &shardMeta{Index: first + i, Parent: c.Parent, AdjacentParent: c.AdjacentParent, Start: c.Start, End: c.End, Created: now.UnixNano()}
		children[i] = cm
		e.fs.RemoveAll(e.shardDir(st.inc, cm.Index))
		sh, err := st.newShard(cm, true)
		if err == nil {
			if err = e.createShardDir(st.inc, cm.Index); err != nil {
				err = &api.Error{Code: api.CodeInternal, Detail: "create the directory of shard " + api.ShardID(cm.Index) + " of stream " + st.name, Err: err}
			}
		}
		if err != nil {
			for _, o := range opened {
				o.finish(reqStop)
				o.destroyLog()
			}
			return err
		}
		opened = append(opened, sh)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	// The catalog is read again: a seal applied meanwhile by a shard's
	// group is in it.
	next := st.meta.clone()
	for i, p := range a.Parents {
		sm := findShardMeta(next, p)
		sm.Closed, sm.EndSeq, sm.ClosedAt, sm.ClosedBy = true, a.Ends[i], now.UnixNano(), a.Token
	}
	next.Shards = append(next.Shards, children...)
	next.NextShard = first + len(children)
	if err := e.persist(st.name, next); err != nil {
		for _, o := range opened {
			o.finish(reqStop)
			o.destroyLog()
		}
		return err
	}
	st.meta = next
	old := *st.shards.Load()
	shards := make([]*shard, next.NextShard)
	copy(shards, old)
	for _, sh := range opened {
		sh.meta = findShardMeta(next, sh.index)
		shards[sh.index] = sh
	}
	for _, p := range a.Parents {
		shards[p].meta = findShardMeta(next, p)
	}
	st.shards.Store(&shards)
	st.rebuildRoutes()
	for i, p := range a.Parents {
		shards[p].markClosed(a.Ends[i])
	}
	return nil
}

// checkReshard checks a Reshard change against a stream's catalog: one or
// two open parents with adjacent ranges, one or two children dividing their
// range among them. done reports a change applied already.
func checkReshard(m *streamMeta, a *reshardArgs) (done bool, err error) {
	if len(a.Parents) < 1 || len(a.Parents) > 2 || len(a.Ends) != len(a.Parents) || len(a.Children) < 1 || len(a.Children) > 2 {
		return false, errorf(api.CodeInternal, "a reshard of stream %s with %d parents, %d ends and %d children", m.Name, len(a.Parents), len(a.Ends), len(a.Children))
	}
	parents := make([]*shardMeta, len(a.Parents))
	closed := 0
	for i, p := range a.Parents {
		if parents[i] = findShardMeta(m, p); parents[i] == nil {
			return false, api.ShardNotFound(m.Name, api.ShardID(p))
		}
		if slices.Contains(parents[i].Aborted, a.Token) {
			return false, errorf(api.CodeResourceInUse, "the split or merge of shard %s of stream %s was abandoned (its outcome was unknown); retry", api.ShardID(p), m.Name)
		}
		if parents[i].Closed {
			if parents[i].ClosedBy == a.Token {
				closed++
				continue
			}
			return false, &api.Error{Code: api.CodeResourceInUse, Reason: api.ReasonShardClosed, Stream: m.Name, Shard: api.ShardID(p)}
		}
	}
	if closed == len(parents) {
		return true, nil
	}
	if closed > 0 {
		return false, errorf(api.CodeInternal, "a reshard of stream %s found some of its parents closed by itself and others open", m.Name)
	}
	sort.Slice(parents, func(i, j int) bool { return parents[i].Start.Cmp(parents[j].Start) < 0 })
	if len(parents) == 2 && (parents[0].Index == parents[1].Index || parents[0].End == api.MaxHashKey || parents[0].End.Inc() != parents[1].Start) {
		return false, &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonNotAdjacent,
			Stream: m.Name, Shard: api.ShardID(a.Parents[0]), Arg: api.ShardID(a.Parents[1])}
	}
	kids := append([]reshardChild(nil), a.Children...)
	sort.Slice(kids, func(i, j int) bool { return kids[i].Start.Cmp(kids[j].Start) < 0 })
	at := parents[0].Start
	for i, c := range kids {
		if c.Start != at || c.End.Cmp(c.Start) < 0 || (i < len(kids)-1 && c.End == api.MaxHashKey) {
			return false, errorf(api.CodeInternal, "the children of a reshard of stream %s do not divide their parents' range", m.Name)
		}
		if !isParent(a.Parents, c.Parent) || (c.AdjacentParent != -1 && !isParent(a.Parents, c.AdjacentParent)) {
			return false, errorf(api.CodeInternal, "a child of a reshard of stream %s names a parent it does not close", m.Name)
		}
		at = c.End.Inc()
	}
	if kids[len(kids)-1].End != parents[len(parents)-1].End {
		return false, errorf(api.CodeInternal, "the children of a reshard of stream %s do not divide their parents' range", m.Name)
	}
	return false, nil
}

func isParent(parents []int, p int) bool {
	for _, q := range parents {
		if q == p {
			return true
		}
	}
	return false
}

// checkShardCountTarget checks an UpdateShardCount target against a
// stream's open shard count.
func checkShardCountTarget(m *streamMeta, target int) error {
	n := len(openSorted(m))
	if target < 1 || target > api.MaxShardsPerStream {
		return errorf(api.CodeInvalidArgument, "target shard count is %d; it must be between 1 and %d", target, api.MaxShardsPerStream)
	}
	if target > 2*n || 2*target < n {
		return errorf(api.CodeValidation,
			"UpdateShardCount to %d shards from %d is not allowed: the target must be between half and double the current open shard count (%d to %d)",
			target, n, (n+1)/2, 2*n)
	}
	return nil
}

// refusal returns the engine's refusal of a seal (ResourceInUse) where the
// Replica wrapped it as a replication failure, and err otherwise.
func refusal(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ae, ok := e.(*api.Error); ok && ae.Code == api.CodeResourceInUse {
			return ae
		}
	}
	return err
}

// Coordinator is implemented by a Replica whose node may drive a cluster's
// background decisions, so that exactly one node makes them and the others
// only apply them.
type Coordinator interface {
	// Coordinates reports whether this node drives them at the moment (in
	// a cluster, the node leading the controller group).
	Coordinates() bool
}

// coordinates reports whether this engine drives its cluster's background
// decisions.
func (e *Engine) coordinates() bool {
	c, ok := e.opts.Replica.(Coordinator)
	return ok && c.Coordinates()
}

// reshardAbandonAfter is how long a shard may stay sealed without being
// closed before the coordinator abandons the reshard that sealed it (its
// proposer died, or could commit neither its change nor its abandonment):
// well past a proposer's own tries, so that a live proposer finishes first.
const reshardAbandonAfter = time.Minute

// coordinateInterval is how often a replica looks for what it must drive.
const coordinateInterval = 5 * time.Second

// coordinateLoop drives, on the coordinating node of a cluster, what no
// single call does: abandoning reshards left half done. Every other node
// only applies what it decides.
func (e *Engine) coordinateLoop() {
	defer e.bg.Done()
	stale := map[string]time.Time{}
	ticker.Every(coordinateInterval, e.stop, func() {
		if !e.coordinates() {
			clear(stale)
			return
		}
		e.abandonStaleSeals(stale, time.Now())
	})
}

// abandonStaleSeals abandons, through the controller group, the reshards
// whose seals have kept a still open shard sealed since at least
// reshardAbandonAfter before now (as first seen in stale, which it keeps),
// and unseals their parents.
func (e *Engine) abandonStaleSeals(stale map[string]time.Time, now time.Time) {
	type sealed struct {
		st   *stream
		seal *shardSeal
	}
	found := map[string]sealed{}
	for _, st := range *e.snap.Load() {
		if st.deleted.Load() {
			continue
		}
		for _, sh := range *st.shards.Load() {
			if sh == nil || sh.isClosed() {
				continue
			}
			if s := sh.seal.Load(); s != nil {
				found[s.Token] = sealed{st, s}
			}
		}
	}
	for tok := range stale {
		if _, ok := found[tok]; !ok {
			delete(stale, tok)
		}
	}
	for tok, f := range found {
		first, ok := stale[tok]
		if !ok {
			stale[tok] = now
			continue
		}
		if now.Sub(first) < reshardAbandonAfter {
			continue
		}
		raw, err := hex.DecodeString(tok)
		var token [sealTokenLen]byte
		if err != nil || len(raw) != sealTokenLen {
			continue
		}
		copy(token[:], raw)
		a := reshardArgs{Name: f.st.name, Incarnation: f.st.inc, Token: tok, Parents: f.seal.Parents}
		done, err := e.abandonReshard(&a)
		if err != nil {
			e.opts.Logger.Warn("could not abandon a reshard left half done; retrying", "stream", f.st.name, "parents", a.Parents, "err", err)
			continue
		}
		if !done {
			e.opts.Logger.Warn("abandoned a reshard left half done (its proposer stopped after sealing its parents); they take records again",
				"stream", f.st.name, "parents", a.Parents)
			e.unseal(f.st, a.Parents, token)
		}
		delete(stale, tok)
	}
}
