package raftlog

import (
	"fmt"
	"io"
	"log"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/vfs"
)

// kvMachine is the test's state machine: the proposals applied, in order.
type kvMachine struct {
	applied uint64
	values  []string
}

func newRawNode(t *testing.T, st cluster.GroupStorage, applied uint64) *raft.RawNode {
	t.Helper()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st, Applied: applied,
		MaxSizePerMsg: 4 << 10, MaxInflightMsgs: 256, MaxCommittedSizePerReady: 8 << 10,
		Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// drive handles Readys until there is none: each one's entries, hard state
// and snapshot go to the store in one Save, then its committed entries are
// applied.
func drive(t *testing.T, l *Log, rn *raft.RawNode, sm *kvMachine) {
	t.Helper()
	for rn.HasReady() {
		rd := rn.Ready()
		us := []cluster.Update{{Group: 1}}
		u := &us[0]
		for _, e := range rd.Entries {
			u.Entries = append(u.Entries, raftpb.Entry{Term: e.Term, Index: e.Index, Type: e.Type, Data: e.Data})
		}
		if hs := rd.HardState; hs != nil {
			u.HardState = raftpb.HardState{Term: hs.Term, Vote: hs.Vote, Commit: hs.Commit}
		}
		if s := rd.Snapshot; s != nil && !raft.IsEmptySnap(s) {
			t.Fatal("a single voter received a snapshot")
		}
		save(t, l, us)
		for _, e := range rd.CommittedEntries {
			if e.GetIndex() != sm.applied+1 {
				t.Fatalf("committed entry %d applied after %d", e.GetIndex(), sm.applied)
			}
			sm.applied = e.GetIndex()
			if e.GetType() == raftpb.EntryType_EntryNormal && len(e.GetData()) > 0 {
				sm.values = append(sm.values, string(e.GetData()))
			}
		}
		rn.Advance(rd)
	}
}

// TestRawNode_ProposeAndRestart runs raft's RawNode (one voter) on a group
// of the store: it elects itself, commits proposals (some read back from
// the files: the cache is tiny), snapshots and compacts, and after a
// restart from the store alone it has the same log and state, applies what
// it had not, and goes on committing.
func TestRawNode_ProposeAndRestart(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 64 << 10, CacheBytes: 2 << 10}
	l := openLog(t, mem, opts)
	cs := &raftpb.ConfState{Voters: []uint64{1}}
	// Bootstrap as etcd's raftexample does: a snapshot with the configuration.
	save(t, l, []cluster.Update{{Group: 1, Snapshot: raftpb.Snapshot{
		Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1)), ConfState: cs}}}})
	st := mustGroup(t, l, 1)
	rn := newRawNode(t, st, 1)
	sm := &kvMachine{applied: 1}
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	drive(t, l, rn, sm)
	if rn.Status().RaftState != raft.StateLeader {
		t.Fatalf("the single voter is %v, want leader", rn.Status().RaftState)
	}
	propose := func(from, to int) {
		for i := from; i < to; i++ {
			if err := rn.Propose(fmt.Appendf(nil, "value-%03d-%s", i, make([]byte, 200))); err != nil {
				t.Fatal(err)
			}
			drive(t, l, rn, sm)
		}
	}
	propose(0, 60)
	// Snapshot the state machine at what it applied, keep ten entries.
	snapAt := sm.applied
	snapData := fmt.Sprint(len(sm.values))
	if _, err := st.CreateSnapshot(snapAt, cs, []byte(snapData)); err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(snapAt - 10); err != nil {
		t.Fatal(err)
	}
	propose(60, 100)
	if len(sm.values) != 100 {
		t.Fatalf("%d proposals applied, want 100", len(sm.values))
	}
	last, _ := st.LastIndex()
	hs, _, _ := st.InitialState()
	if hs.GetCommit() != last {
		t.Fatalf("commit %d, last index %d: a single voter commits all it has", hs.GetCommit(), last)
	}
	want := sm.values
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the state machine starts from the snapshot (its data says
	// how many values it held) and raft hands it the committed entries
	// after it.
	l = openLog(t, mem, opts)
	defer l.Close()
	st = mustGroup(t, l, 1)
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() != snapAt || string(snap.GetData()) != snapData {
		t.Fatalf("snapshot at %d (%q) after the restart, want %d (%q)", snap.GetMetadata().GetIndex(), snap.GetData(), snapAt, snapData)
	}
	var n int
	fmt.Sscan(string(snap.GetData()), &n)
	sm = &kvMachine{applied: snapAt, values: append([]string(nil), want[:n]...)}
	rn = newRawNode(t, st, snapAt)
	drive(t, l, rn, sm)
	if len(sm.values) != len(want) {
		t.Fatalf("after the restart %d values applied, want %d", len(sm.values), len(want))
	}
	for i := range want {
		if sm.values[i] != want[i] {
			t.Fatalf("value %d is %.12q after the restart, want %.12q", i, sm.values[i], want[i])
		}
	}
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	drive(t, l, rn, sm)
	propose(100, 110)
	if len(sm.values) != 110 {
		t.Fatalf("%d values applied after proposing 10 more, want 110", len(sm.values))
	}
	if l.Stats().DiskReads == 0 {
		t.Fatal("no entry was read back from the files: the restart did not exercise them")
	}
}
