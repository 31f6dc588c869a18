package engine

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sluicedb/sluice/api"
)

// Sealing a replicated shard. A split or merge on a cluster must end each
// parent at the same sequence number on every replica, and no record
// acknowledged by the parent may be lost or numbered twice. The end is
// therefore fixed in the parent's own log: the reshard first proposes a seal
// entry to each parent's group, and the position of that entry in the
// group's committed order is the parent's end. Applying it (every replica,
// in the same order) records the sequence number the group's next record
// would have had; every later records entry of the group is refused with
// ErrShardClosed and takes no number, so the proposer's put routes its
// records again, to the children. Only then is the catalog change that
// closes the parents at those ends and opens the children proposed to the
// controller group (change_reshard.go).
//
// A seal names the reshard that made it (a random token): a second reshard
// that tries to seal a shard sealed by another is refused (ResourceInUse),
// and one that is refused before it proposed its catalog change unseals
// the shards it sealed, so that they take records again.

// Seal actions, the second byte of a seal entry; part of the format of the
// Raft log.
const (
	sealOn  byte = 1
	sealOff byte = 2
)

// sealTokenLen is the size of a reshard's token.
const sealTokenLen = 16

// sealHeader is the fixed part of a seal entry: kind, action, token.
const sealHeader = 1 + 1 + sealTokenLen

// maxSealIntent bounds the reshard description a seal entry carries.
const maxSealIntent = 64 << 10

// shardSeal is a seal applied to a shard. Immutable once made.
type shardSeal struct {
	// End is the sequence number after the shard's last record.
	End uint64 `json:"end"`
	// Token names the reshard that sealed the shard (hex).
	Token string `json:"token"`
	// Parents are the shards the reshard seals, this one among them.
	Parents []int `json:"parents,omitempty"`
}

// EncodeSealEntry encodes a seal entry: on says seal (else unseal), token
// names the reshard and intent describes it (kept for the record; the
// engine does not read it back):
//
//	kind (1 byte, 2) | action (1 byte: 1 seal, 2 unseal) | token (16 bytes) | intent (the rest, up to 64 KiB)
func EncodeSealEntry(on bool, token [sealTokenLen]byte, intent []byte) []byte {
	b := make([]byte, sealHeader, sealHeader+len(intent))
	b[0] = entrySeal
	b[1] = sealOff
	if on {
		b[1] = sealOn
	}
	copy(b[2:], token[:])
	return append(b, intent...)
}

// sealEntry is a decoded seal entry; intent aliases the entry.
type sealEntry struct {
	on     bool
	token  [sealTokenLen]byte
	intent []byte
}

// decodeSealEntry checks a seal entry and returns it.
func decodeSealEntry(b []byte) (sealEntry, error) {
	if len(b) < sealHeader {
		return sealEntry{}, fmt.Errorf("%w: seal entry of %d bytes, shorter than its %d-byte header", errBadEntry, len(b), sealHeader)
	}
	if b[0] != entrySeal {
		return sealEntry{}, fmt.Errorf("%w: kind %d, not a seal entry (%d)", errBadEntry, b[0], entrySeal)
	}
	if b[1] != sealOn && b[1] != sealOff {
		return sealEntry{}, fmt.Errorf("%w: seal action %d; it must be %d (seal) or %d (unseal)", errBadEntry, b[1], sealOn, sealOff)
	}
	if len(b)-sealHeader > maxSealIntent {
		return sealEntry{}, fmt.Errorf("%w: seal entry carries %d bytes of intent; the limit is %d", errBadEntry, len(b)-sealHeader, maxSealIntent)
	}
	s := sealEntry{on: b[1] == sealOn, intent: b[sealHeader:]}
	copy(s.token[:], b[2:sealHeader])
	return s, nil
}

// IsSealEntry reports whether a shard entry is a seal entry (its kind byte);
// ApplySeal checks the rest.
func IsSealEntry(entry []byte) bool { return len(entry) > 0 && entry[0] == entrySeal }

// ApplySeal applies a committed seal entry to the shard index of the stream
// of incarnation inc, whose group's next record would have the sequence
// number next. A seal returns the shard's end: next, or the end of an
// earlier seal of the same reshard (a seal applied again after a restart,
// or proposed twice). A seal of a shard another reshard has sealed is
// refused with ResourceInUse. An unseal clears the seal of its reshard and
// returns next.
//
// What a seal or unseal decides depends only on the seals and unseals
// before it in the group's committed order, never on the catalog (which
// the controller group orders), so every replica decides the same however
// far its catalog is ahead or behind. The seal is kept in the catalog,
// since the group's log may let the entry go before the catalog change
// that closes the shard is applied.
func (e *Engine) ApplySeal(inc uint32, index int, next uint64, entry []byte) (uint64, error) {
	s, err := decodeSealEntry(entry)
	if err != nil {
		return 0, err
	}
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return 0, err
	}
	st := sh.st
	token := hex.EncodeToString(s.token[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrClosed
	}
	sm := findShardMeta(st.meta, index)
	if sm == nil || st.deleted.Load() {
		return 0, api.ShardNotFound(st.name, api.ShardID(index))
	}
	cur := sh.seal.Load() // as the catalog keeps it, unless it could not be persisted
	switch {
	case s.on && cur != nil && cur.Token == token:
		return cur.End, nil
	case s.on && cur != nil:
		return 0, errorf(api.CodeResourceInUse, "shard %s of stream %s is being or has been split or merged by another call", sh.id, st.name)
	case !s.on && (cur == nil || cur.Token != token):
		return next, nil
	}
	var seal *shardSeal
	if s.on {
		seal = &shardSeal{End: next, Token: token, Parents: intentParents(s.intent, index)}
	}
	m := st.meta.clone()
	findShardMeta(m, index).Seal = seal
	if err := e.persist(st.name, m); err != nil {
		// Every other replica applies the seal: this one must too, or
		// it would take records they refuse. It holds the seal in
		// memory only, so the shard is marked failed (its entries are
		// applied again from the Raft log after a restart).
		sh.setFault("seal", err)
	} else {
		st.meta = m
		sh.meta = findShardMeta(m, index)
	}
	sh.seal.Store(seal)
	if !s.on {
		// Puts bounced by the seal wait for the routing table to change:
		// the shard takes their records again.
		st.rebuildRoutes()
	}
	return next, nil
}

// sealedAt reports whether a records entry whose first record would get
// the sequence number expect comes after the shard's end: after a seal its
// group applied, or after the end the catalog closed it at. Entries before
// the end (applied again after a restart) are not refused.
func (sh *shard) sealedAt(expect uint64) bool {
	if s := sh.seal.Load(); s != nil && expect >= s.End {
		return true
	}
	return sh.isClosed() && expect >= sh.endSeq.Load()
}

// acceptApplies lets the writer of a closed replica shard take the entries
// before its end again: a replica that restarts after the catalog closed the
// shard, with records up to the end still to apply from its Raft log.
func (sh *shard) acceptApplies() {
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	if sh.accepting {
		return
	}
	select {
	case <-sh.stopped:
		sh.stopped = make(chan struct{})
	default:
		return // finish is stopping it: the engine is closing
	}
	sh.accepting = true
}

// intentParents returns the parents a seal's intent names, or the sealed
// shard alone if the intent names none.
func intentParents(intent []byte, index int) []int {
	var a reshardArgs
	if json.Unmarshal(intent, &a) == nil && slices.Contains(a.Parents, index) {
		return a.Parents
	}
	return []int{index}
}

// SealState returns what a shard group's snapshot must carry of the
// shard's seal: its JSON, or nil when the shard is not sealed. A replica
// that takes the snapshot in place of the entries it covers (it was too
// far behind) restores it with RestoreSeal, so that it refuses the records
// entries the others refuse after a seal it never applied.
func (e *Engine) SealState(inc uint32, index int) ([]byte, error) {
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return nil, err
	}
	s := sh.seal.Load()
	if s == nil {
		return nil, nil
	}
	return json.Marshal(s)
}

// RestoreSeal sets a shard's seal to what a snapshot of its group carried
// (SealState's JSON; nil for none): the snapshot stands for every entry up
// to its index, so its seal replaces this replica's. The entries after it
// are applied on top, as ever.
func (e *Engine) RestoreSeal(inc uint32, index int, state []byte) error {
	var seal *shardSeal
	if state != nil {
		seal = new(shardSeal)
		if err := json.Unmarshal(state, seal); err != nil {
			return fmt.Errorf("%w: the seal in a shard snapshot: %v", errBadEntry, err)
		}
	}
	sh, err := e.shardByInc(inc, index)
	if err != nil {
		return err
	}
	st := sh.st
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	sm := findShardMeta(st.meta, index)
	if sm == nil || st.deleted.Load() {
		return api.ShardNotFound(st.name, api.ShardID(index))
	}
	if cur := sh.seal.Load(); cur == nil && seal == nil {
		return nil
	} else if cur != nil && seal != nil {
		if b, _ := json.Marshal(cur); string(b) == string(state) {
			return nil
		}
	}
	m := st.meta.clone()
	findShardMeta(m, index).Seal = seal
	if err := e.persist(st.name, m); err != nil {
		sh.setFault("seal", err)
	} else {
		st.meta = m
		sh.meta = findShardMeta(m, index)
	}
	sh.seal.Store(seal)
	st.rebuildRoutes()
	return nil
}
