package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/cluster/multiraft"
	"github.com/sluicedb/sluice/engine"
	"go.etcd.io/raft/v3/raftpb"
)

// Controller entries: a kind byte, then its body.
const (
	kindChange byte = 'C' // an engine.Change, JSON
	kindNode   byte = 'N' // a NodeInfo, JSON
	kindKey    byte = 'K' // the iterator key, if none is set yet
)

// iteratorKeyLen is the size of the cluster's iterator key.
const iteratorKeyLen = 32

func encodeChange(c *engine.Change) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInternal, Detail: "encode a catalog change", Err: err}
	}
	return append([]byte{kindChange}, b...), nil
}

// machine is the node seen as the host's state machine.
type machine Node

// Apply applies committed entries of one group, in order.
func (m *machine) Apply(group uint64, ents []multiraft.Applied) {
	n := (*Node)(m)
	if group == cluster.ControllerGroup {
		for i := range ents {
			n.applyController(&ents[i])
		}
		return
	}
	n.mu.Lock()
	g := n.groups[group]
	n.mu.Unlock()
	for i := range ents {
		e := &ents[i]
		if e.Payload == nil {
			continue // a new leader's empty entry, or a membership change
		}
		if g == nil {
			e.Err = &api.Error{Code: api.CodeResourceNotFound, Detail: fmt.Sprintf("this node holds no shard of group %d", group)}
			continue
		}
		if engine.IsSealEntry(e.Payload) {
			// A split or merge seals the shard: its end is the number
			// the next record would have had, here as on every
			// replica, and later records entries are refused.
			end, err := n.eng.ApplySeal(g.inc, g.index, g.next, e.Payload)
			e.Result, e.Err = end, err
			continue
		}
		// The entry is committed: its records' numbers are fixed, and
		// the put can be acknowledged while the shard's writer writes
		// them (the payload is the log's, never changed).
		if e.Proposer != n.cfg.NodeID {
			// Another node admitted these records against its quota
			// of the shard: bill them here too (before a reader can
			// see them), so the shard's limit holds across the
			// cluster rather than once per node.
			n.eng.ChargeReplicated(g.inc, g.index, e.Payload)
		}
		count, err := n.eng.ApplyEntryAsync(g.inc, g.index, g.next, e.Payload)
		if err != nil {
			// A malformed entry is refused the same way on every
			// replica and takes no sequence numbers; a closed engine
			// applies nothing more.
			e.Err = err
			continue
		}
		e.Result = g.next
		g.next += uint64(count)
	}
}

func (n *Node) applyController(e *multiraft.Applied) {
	if len(e.Payload) == 0 {
		return // a new leader's empty entry, or a membership change
	}
	body := e.Payload[1:]
	switch e.Payload[0] {
	case kindChange:
		v, err := n.eng.ApplyChange(e.Index, body)
		e.Result = applyResult{v, err}
		n.poke()
	case kindNode:
		var info NodeInfo
		if err := json.Unmarshal(body, &info); err != nil {
			e.Err = fmt.Errorf("decode a node's info: %w", err)
			return
		}
		if err := n.state.setNode(info); err != nil {
			n.log.Error("could not record a node's info", "err", err)
		}
	case kindKey:
		if len(body) != iteratorKeyLen {
			e.Err = fmt.Errorf("an iterator key of %d bytes", len(body))
			return
		}
		if _, err := n.state.setKey(body); err != nil {
			n.log.Error("could not record the cluster's iterator key", "err", err)
			return
		}
		n.keyKnown()
	default:
		e.Err = fmt.Errorf("controller entry of unknown kind %q", e.Payload[0])
	}
}

// Snapshot is called before the host compacts a group's log up to index
// (the last applied): the shard's segments are synced, and the snapshot
// records the sequence number after its last record.
func (m *machine) Snapshot(group, index uint64) ([]byte, error) {
	n := (*Node)(m)
	if group == cluster.ControllerGroup {
		return json.Marshal(controllerSnapshot{Applied: n.eng.AppliedChange(), Nodes: n.state.nodes(), IteratorKey: n.state.iteratorKey()})
	}
	n.mu.Lock()
	g := n.groups[group]
	n.mu.Unlock()
	if g == nil {
		return nil, fmt.Errorf("no shard group %d", group)
	}
	if _, err := n.eng.SyncShard(g.inc, g.index); err != nil {
		return nil, err
	}
	seal, err := n.eng.SealState(g.inc, g.index)
	if err != nil {
		return nil, err
	}
	return encodeShardSnapshot(g.next, seal), nil
}

// A shard group's snapshot: the sequence number after the shard's last
// record (8 bytes, little-endian), then a byte saying whether the shard is
// sealed for a split or merge and, if it is, the seal
// (engine.SealState). A snapshot of 8 bytes alone, from before seals were
// carried, says nothing of the seal.
func encodeShardSnapshot(next uint64, seal []byte) []byte {
	b := make([]byte, 9, 9+len(seal))
	binary.LittleEndian.PutUint64(b, next)
	if seal != nil {
		b[8] = 1
		b = append(b, seal...)
	}
	return b
}

// shardSnapshotOK reports whether b is a shard group's snapshot that
// decodes.
func shardSnapshotOK(b []byte) bool {
	_, _, _, err := decodeShardSnapshot(b)
	return err == nil
}

// decodeShardSnapshot splits a shard group's snapshot; known is false for
// a snapshot that carries nothing of the seal.
func decodeShardSnapshot(b []byte) (next uint64, seal []byte, known bool, err error) {
	switch {
	case len(b) == 8:
		return binary.LittleEndian.Uint64(b), nil, false, nil
	case len(b) < 9 || b[8] > 1 || (b[8] == 0) != (len(b) == 9):
		return 0, nil, false, fmt.Errorf("a shard group's snapshot of %d bytes is malformed: want a sequence number, a seal flag and the seal if the flag is 1", len(b))
	}
	if b[8] == 1 {
		seal = b[9:]
	}
	return binary.LittleEndian.Uint64(b), seal, true, nil
}

// Restore sets a group's state from a snapshot: on a restart, the one this
// node took itself, whose records its segments hold (synced when it was
// taken); for a new group, an empty one; for a replica too far behind its
// leader's log, the leader's, whose records were shipped here before Raft
// was handed the snapshot (ship.go), so that they are in the segments by
// the time Restore runs on the host's scheduler.
func (m *machine) Restore(group uint64, snap *raftpb.Snapshot) error {
	n := (*Node)(m)
	if group == cluster.ControllerGroup {
		if len(snap.Data) == 0 {
			return nil
		}
		var cs controllerSnapshot
		if err := json.Unmarshal(snap.Data, &cs); err != nil {
			return fmt.Errorf("decode the controller's snapshot: %w", err)
		}
		if have := n.eng.AppliedChange(); have < cs.Applied {
			return fmt.Errorf("the controller's snapshot at index %d holds catalog changes up to %d, and this node applied them up to %d: it must be refilled from another node",
				snap.GetMetadata().GetIndex(), cs.Applied, have)
		}
		for _, info := range cs.Nodes {
			if err := n.state.setNode(info); err != nil {
				return err
			}
		}
		if cs.IteratorKey != nil {
			if _, err := n.state.setKey(cs.IteratorKey); err != nil {
				return err
			}
			n.keyKnown()
		}
		return nil
	}
	n.mu.Lock()
	g := n.groups[group]
	n.mu.Unlock()
	if g == nil {
		return fmt.Errorf("no shard group %d", group)
	}
	if len(snap.Data) == 0 {
		g.next = 0
		return nil
	}
	next, seal, known, err := decodeShardSnapshot(snap.Data)
	if err != nil {
		return fmt.Errorf("shard group %d: %w", group, err)
	}
	have, err := n.eng.SyncShard(g.inc, g.index)
	if err != nil {
		return err
	}
	if known {
		// The snapshot stands for every entry up to its index, a seal
		// among them that this replica may never have applied.
		if err := n.eng.RestoreSeal(g.inc, g.index, seal); err != nil {
			return err
		}
	}
	if have < next {
		// Only a snapshot that did not come through the shipping
		// receiver (shipReceiver holds back every shard snapshot until
		// its records are here) can name records this replica lacks:
		// the replica takes the snapshot's place in the log, and the
		// next entry it applies finds the hole and fences the shard here
		// (the other replicas hold the records). An error would stop
		// every group of the node.
		n.log.Error("a shard's snapshot names records this replica does not hold; it is fenced until it is refilled",
			"group", group, "snapshot_index", snap.GetMetadata().GetIndex(), "records_to", next, "records_here", have)
	}
	g.next = next
	return nil
}

// AppliedIndex tells the host how far the controller group's changes are
// applied to this node's catalog, which keeps that durably itself; a
// shard's state is rebuilt from its snapshot and the entries after it.
func (m *machine) AppliedIndex(group uint64) uint64 {
	if group == cluster.ControllerGroup {
		return (*Node)(m).eng.AppliedChange()
	}
	return 0
}

// LeaderChanged notes that leaderships moved; the balancer (balanceLoop)
// hands shards back to their preferred replicas.
func (m *machine) LeaderChanged(group, leader, term uint64) {
	n := (*Node)(m)
	n.leaders.note(group, leader)
	if leader == n.cfg.NodeID {
		n.pokeBalance()
	}
}

// announce records this node's info and, if the cluster has none yet, an
// iterator key, retrying until the controller group has a leader.
func (n *Node) announce(self NodeInfo) {
	defer n.bg.Done()
	info, _ := json.Marshal(self)
	for {
		_, err := n.propose(cluster.ControllerGroup, append([]byte{kindNode}, info...))
		if err == nil {
			break
		}
		select {
		case <-n.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	for n.state.iteratorKey() == nil {
		k := make([]byte, iteratorKeyLen)
		rand.Read(k)
		if _, err := n.propose(cluster.ControllerGroup, append([]byte{kindKey}, k...)); err == nil {
			break
		}
		select {
		case <-n.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// IteratorKey returns the cluster's iterator key, waiting until the
// controller group has applied one.
func (n *Node) IteratorKey(ctx context.Context) ([]byte, error) {
	select {
	case <-n.keyCh:
		return n.state.iteratorKey(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("the cluster agreed on no iterator key (is a quorum of nodes up?): %w", ctx.Err())
	}
}

// controllerSnapshot is the controller group's snapshot: how far the catalog
// is applied (each node keeps its own catalog whole, so the catalog itself
// is not in it) and the cluster state beside it.
type controllerSnapshot struct {
	Applied     uint64     `json:"applied"`
	Nodes       []NodeInfo `json:"nodes"`
	IteratorKey []byte     `json:"iterator_key,omitempty"`
}

// keyKnown wakes whoever waits for the iterator key.
func (n *Node) keyKnown() {
	n.keyOnce.Do(func() { close(n.keyCh) })
}
