package engine

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

// A replica that applies the catalog change of a split before the parent's
// last records and its seal (its controller group ran ahead of the shard's
// group), and restarts in between, ends with the same records, the same
// parent end and the same children as the replica that applied everything
// in order; its readers see the parent end only once they reach it.
func TestReplicaReshard_LaggingReplicaAgrees(t *testing.T) {
	r := &logReplica{}
	a := openReplica(t, r, t.TempDir())
	defer a.Close()
	r.attach(a)
	info, err := a.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := a.PutRecord("s", api.PutRecord{Key: []byte{'k', byte('0' + i)}, Data: []byte("before")}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SplitShard("s", api.ShardID(0), api.HashKey{Hi: 1 << 63}); err != nil {
		t.Fatal(err)
	}
	// A put that reached the parent's group after its seal is refused.
	late := EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte("late"), Data: []byte("x")}}, []int32{0})
	if _, err := r.Append(info.Incarnation, 0, late); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("records entry after the seal: %v; want ErrShardClosed", err)
	}
	for i := 0; i < 4; i++ {
		if _, err := a.PutRecord("s", api.PutRecord{Key: []byte{'k', byte('0' + i)}, Data: []byte("after")}, ""); err != nil {
			t.Fatal(err)
		}
	}

	// Replica b: every catalog change first, then the shard entries.
	dir := t.TempDir()
	b := openReplica(t, &logReplica{}, dir)
	for i, c := range r.changes {
		if _, err := b.ApplyChange(uint64(i+1), c); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	pos, err := b.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	if end, _, _ := b.ShardEnd(pos); end {
		t.Fatal("a reader of the parent sees its end before the replica applied its records")
	}
	// Restart between the change and the parent's records.
	b.Close()
	b = openReplica(t, &logReplica{}, dir)
	defer b.Close()
	next := map[[2]uint64]uint64{}
	for i, ent := range r.shards {
		k := [2]uint64{uint64(ent.inc), uint64(ent.shard)}
		n, err := b.ApplyEntry(ent.inc, ent.shard, next[k], ent.data)
		if bytes.Equal(ent.data, late) {
			if !errors.Is(err, ErrShardClosed) {
				t.Fatalf("entry %d (after the seal) on the lagging replica: %v; want ErrShardClosed", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		next[k] += uint64(n)
	}
	if got, want := recordsOf(t, b, "s"), recordsOf(t, a, "s"); !slices.Equal(got, want) {
		t.Fatalf("lagging replica holds\n%q\nthe other\n%q", got, want)
	}
	da, _ := a.DescribeStream("s")
	db, _ := b.DescribeStream("s")
	if len(da.Shards) != 3 || len(db.Shards) != 3 {
		t.Fatalf("shards: %d and %d; want 3 (parent and two children)", len(da.Shards), len(db.Shards))
	}
	for i := range da.Shards {
		x, y := da.Shards[i], db.Shards[i]
		if x.ID != y.ID || x.Closed != y.Closed || x.EndingSeq != y.EndingSeq || x.HashStart != y.HashStart || x.HashEnd != y.HashEnd || x.Parent != y.Parent {
			t.Fatalf("shard %d: %+v and %+v", i, x, y)
		}
	}
	if !db.Shards[0].Closed || db.Shards[0].NextSeq != 5 {
		t.Fatalf("parent on the lagging replica: %+v; want closed after 5 records", db.Shards[0])
	}
	_, pos, _ = readAll(t, b, pos)
	if end, kids, _ := b.ShardEnd(pos); !end || len(kids) != 2 {
		t.Fatalf("a reader at the parent's end: end %v, children %v", end, kids)
	}
}

// A seal fixes the shard's end at the group's next number; the same
// reshard's seal again answers the same end; another reshard's seal is
// refused with ResourceInUse and its unseal does nothing; the sealing
// reshard's unseal lets records in again, numbered from the end.
func TestReplicaReshard_SealAndUnseal(t *testing.T) {
	r := &logReplica{}
	e := openReplica(t, r, t.TempDir())
	defer e.Close()
	r.attach(e)
	info, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	inc := info.Incarnation
	recs := []api.PutRecord{{Key: []byte("k"), Data: []byte("d")}, {Key: []byte("k"), Data: []byte("e")}}
	ent := EncodeRecordsEntry(1, recs, []int32{0, 1})
	if _, err := e.ApplyEntry(inc, 0, 0, ent); err != nil {
		t.Fatal(err)
	}
	t1, t2 := [sealTokenLen]byte{1}, [sealTokenLen]byte{2}
	if end, err := e.ApplySeal(inc, 0, 2, EncodeSealEntry(true, t1, []byte("{}"))); end != 2 || err != nil {
		t.Fatalf("seal: %d, %v; want 2", end, err)
	}
	if _, err := e.ApplyEntry(inc, 0, 2, ent); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("records after the seal: %v; want ErrShardClosed", err)
	}
	if n, err := e.ApplyEntry(inc, 0, 0, ent); n != 2 || err != nil {
		t.Fatalf("records before the seal, applied again: %d, %v", n, err)
	}
	if end, err := e.ApplySeal(inc, 0, 2, EncodeSealEntry(true, t1, nil)); end != 2 || err != nil {
		t.Fatalf("the same seal again: %d, %v; want 2", end, err)
	}
	var ae *api.Error
	if _, err := e.ApplySeal(inc, 0, 2, EncodeSealEntry(true, t2, nil)); !errors.As(err, &ae) || ae.Code != api.CodeResourceInUse {
		t.Fatalf("another reshard's seal: %v; want ResourceInUse", err)
	}
	e.ApplySeal(inc, 0, 2, EncodeSealEntry(false, t2, nil))
	if _, err := e.ApplyEntry(inc, 0, 2, ent); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("records after another reshard's unseal: %v; want ErrShardClosed", err)
	}
	e.ApplySeal(inc, 0, 2, EncodeSealEntry(false, t1, nil))
	if n, err := e.ApplyEntry(inc, 0, 2, ent); n != 2 || err != nil {
		t.Fatalf("records after the unseal: %d, %v", n, err)
	}
	if got := recordsOf(t, e, "s"); len(got) != 4 {
		t.Fatalf("records %q; want 4", got)
	}
}

// A malformed seal entry is refused whole, saying what is wrong.
func TestReplicaReshard_MalformedSeal(t *testing.T) {
	good := EncodeSealEntry(true, [sealTokenLen]byte{7}, []byte(`{"name":"s"}`))
	for name, b := range map[string][]byte{
		"short":  good[:sealHeader-1],
		"kind":   append([]byte{entryRecords}, good[1:]...),
		"action": append([]byte{entrySeal, 9}, good[2:]...),
		"intent": append(bytes.Clone(good[:sealHeader]), make([]byte, maxSealIntent+1)...),
	} {
		if _, err := decodeSealEntry(b); !errors.Is(err, errBadEntry) {
			t.Errorf("%s: %v; want a malformed-entry error", name, err)
		}
	}
	s, err := decodeSealEntry(good)
	if err != nil || !s.on || s.token != ([sealTokenLen]byte{7}) || string(s.intent) != `{"name":"s"}` {
		t.Fatalf("good entry: %+v, %v", s, err)
	}
	if _, err := EntryRecords(good); !errors.Is(err, errBadEntry) {
		t.Fatalf("a seal entry counted as records: %v", err)
	}
}

// FuzzSealEntry: any bytes given as a seal entry are refused with an error
// or decode to a seal that re-encodes to the same bytes; never a panic.
func FuzzSealEntry(f *testing.F) {
	f.Add(EncodeSealEntry(true, [sealTokenLen]byte{1, 2, 3}, []byte(`{"name":"s","parents":[0]}`)))
	f.Add(EncodeSealEntry(false, [sealTokenLen]byte{9}, nil))
	f.Add([]byte{entrySeal, sealOn})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSealEntry(b)
		if err != nil {
			return
		}
		if again := EncodeSealEntry(s.on, s.token, s.intent); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, which re-encodes as %x", b, again)
		}
	})
}

// flakyReplica is a logReplica whose catalog changes of one operation fail
// with a replication error, after being applied or not (a reply lost with
// its leader, or a change never committed), while fail says so.
type flakyReplica struct {
	*logReplica
	op      string
	fails   int  // how many more changes of op fail
	applied bool // whether a failing change is applied first
	dropped []*Change
}

func (f *flakyReplica) Change(c *Change) (any, error) {
	if c.Op == f.op && f.fails > 0 {
		f.fails--
		if f.applied {
			f.logReplica.Change(c)
		} else {
			f.dropped = append(f.dropped, c)
		}
		return nil, &api.Error{Code: api.CodeInternal, Detail: "replication failed; retry"}
	}
	return f.logReplica.Change(c)
}

func (f *flakyReplica) Coordinates() bool { return true }

func openFlaky(t *testing.T) (*flakyReplica, *Engine, uint32) {
	t.Helper()
	f := &flakyReplica{logReplica: &logReplica{}}
	e2, err := Open(Options{Dir: t.TempDir(), Replica: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2.Close() })
	f.attach(e2)
	info, err := e2.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	return f, e2, info.Incarnation
}

// A Reshard change whose reply was lost is proposed again, and applying it
// twice does it once.
func TestReplicaReshard_ChangeAppliedTwiceIsDoneOnce(t *testing.T) {
	f, e, _ := openFlaky(t)
	f.op, f.fails, f.applied = opReshard, 2, true
	if err := e.SplitShard("s", api.ShardID(0), api.HashKey{Hi: 1 << 60}); err != nil {
		t.Fatal(err)
	}
	si, _ := e.DescribeStream("s")
	if len(si.Shards) != 4 || !si.Shards[0].Closed {
		t.Fatalf("after a split applied twice: %+v", si.Shards)
	}
}

// A Reshard change that could not be committed is abandoned through the
// controller: the split fails, the parent is unsealed and takes records,
// and the change, if it came after all, is refused.
func TestReplicaReshard_UncommittedChangeIsAbandoned(t *testing.T) {
	f, e, inc := openFlaky(t)
	f.op, f.fails = opReshard, reshardChangeTries
	if err := e.SplitShard("s", api.ShardID(0), api.HashKey{Hi: 1 << 60}); err == nil {
		t.Fatal("a split whose change was never committed succeeded")
	}
	si, _ := e.DescribeStream("s")
	if len(si.Shards) != 2 || si.Shards[0].Closed {
		t.Fatalf("after an abandoned split: %+v", si.Shards)
	}
	if _, err := f.Append(inc, 0, EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte("k"), Data: []byte("d")}}, []int32{0})); err != nil {
		t.Fatalf("records into the abandoned split's parent: %v", err)
	}
	// The abandoned change, committed late after all, is refused.
	var ae *api.Error
	if _, err := f.logReplica.Change(f.dropped[0]); !errors.As(err, &ae) || ae.Code != api.CodeResourceInUse {
		t.Fatalf("the abandoned split's change applied late: %v; want ResourceInUse", err)
	}
	if si, _ := e.DescribeStream("s"); len(si.Shards) != 2 || si.Shards[0].Closed {
		t.Fatalf("after the abandoned split's change: %+v", si.Shards)
	}
}

// A shard left sealed by a proposer that stopped (no catalog change, no
// abandonment) is abandoned by the coordinator once it has been sealed for
// reshardAbandonAfter, and takes records again; a late Reshard change of
// that reshard is refused.
func TestReplicaReshard_CoordinatorAbandonsStaleSeal(t *testing.T) {
	f, e, inc := openFlaky(t)
	token := [sealTokenLen]byte{0xab}
	a := reshardArgs{Name: "s", Incarnation: inc, Token: hex.EncodeToString(token[:]), Parents: []int{0},
		Children: []reshardChild{{Start: api.HashKey{}, End: api.HashKey{Hi: 1}, Parent: 0, AdjacentParent: -1}}}
	intent, _ := json.Marshal(a)
	end, err := f.Append(inc, 0, EncodeSealEntry(true, token, intent))
	if err != nil {
		t.Fatal(err)
	}
	put := func() error {
		_, err := f.Append(inc, 0, EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte("k"), Data: []byte("d")}}, []int32{0}))
		return err
	}
	if err := put(); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("put into the sealed shard: %v; want ErrShardClosed", err)
	}
	stale := map[string]time.Time{}
	t0 := time.Now()
	e.abandonStaleSeals(stale, t0)
	e.abandonStaleSeals(stale, t0.Add(reshardAbandonAfter/2))
	if err := put(); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("put into a shard sealed for less than reshardAbandonAfter: %v; want ErrShardClosed", err)
	}
	e.abandonStaleSeals(stale, t0.Add(reshardAbandonAfter))
	if err := put(); err != nil {
		t.Fatalf("put into the shard after its seal was abandoned: %v", err)
	}
	si, _ := e.DescribeStream("s")
	a.Ends = []uint64{end}
	a.Children = []reshardChild{
		{Start: si.Shards[0].HashStart, End: api.HashKey{Hi: 1}, Parent: 0, AdjacentParent: -1},
		{Start: api.HashKey{Hi: 1}.Inc(), End: si.Shards[0].HashEnd, Parent: 0, AdjacentParent: -1},
	}
	var ae *api.Error
	if _, err := e.change(opReshard, a); !errors.As(err, &ae) || ae.Code != api.CodeResourceInUse {
		t.Fatalf("the abandoned reshard's change: %v; want ResourceInUse", err)
	}
	if si, _ = e.DescribeStream("s"); len(si.Shards) != 2 || si.Shards[0].Closed {
		t.Fatalf("after the abandoned reshard's change: %+v", si.Shards)
	}
}

// A replica whose catalog closed a shard (split by one reshard) before its
// group applied an earlier seal and unseal of another reshard refuses and
// takes the same records as the replicas that applied them in order: what
// a seal refuses follows the group's own order, not the catalog's.
func TestReplicaReshard_LaggingReplicaReplaysAnAbandonedSeal(t *testing.T) {
	r := &logReplica{}
	a := openReplica(t, r, t.TempDir())
	defer a.Close()
	r.attach(a)
	info, err := a.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	inc := info.Incarnation
	recs := func(tag string) []byte {
		return EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte(tag + "1"), Data: []byte(tag)}, {Key: []byte(tag + "2"), Data: []byte(tag)}}, []int32{0, 1})
	}
	if _, err := r.Append(inc, 0, recs("a")); err != nil {
		t.Fatal(err)
	}
	abandoned := [sealTokenLen]byte{0x7}
	if end, err := r.Append(inc, 0, EncodeSealEntry(true, abandoned, nil)); err != nil || end != 2 {
		t.Fatalf("seal: %d, %v", end, err)
	}
	if _, err := r.Append(inc, 0, recs("refused")); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("records after the seal: %v; want ErrShardClosed", err)
	}
	if _, err := r.Append(inc, 0, EncodeSealEntry(false, abandoned, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Append(inc, 0, recs("b")); err != nil {
		t.Fatal(err)
	}
	if err := a.SplitShard("s", api.ShardID(0), api.HashKey{Hi: 1 << 63}); err != nil {
		t.Fatal(err)
	}

	b := openReplica(t, &logReplica{}, t.TempDir())
	defer b.Close()
	for i, c := range r.changes {
		if _, err := b.ApplyChange(uint64(i+1), c); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	next := map[[2]uint64]uint64{}
	var refused int
	for i, ent := range r.shards {
		k := [2]uint64{uint64(ent.inc), uint64(ent.shard)}
		n, err := b.ApplyEntry(ent.inc, ent.shard, next[k], ent.data)
		if errors.Is(err, ErrShardClosed) {
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		next[k] += uint64(n)
	}
	if refused != 1 {
		t.Fatalf("the lagging replica refused %d entries; want the one the others refused", refused)
	}
	if got, want := recordsOf(t, b, "s"), recordsOf(t, a, "s"); !slices.Equal(got, want) {
		t.Fatalf("lagging replica holds\n%q\nthe other\n%q", got, want)
	}
}

// UpdateShardCount on a replica counts against the daily limit in the
// controller's order: the call past the limit is refused, and so is a
// racing node's count that passed its own check before it was ordered.
func TestReplicaReshard_ShardCountLimitCheckedWhenApplied(t *testing.T) {
	r := &logReplica{}
	e := openReplica(t, r, t.TempDir())
	defer e.Close()
	r.attach(e)
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MaxShardCountUpdates; i++ {
		if err := e.UpdateShardCount("s", 1+(i+1)%2); err != nil {
			t.Fatalf("update %d: %v", i+1, err)
		}
	}
	var ae *api.Error
	if err := e.UpdateShardCount("s", 2); !errors.As(err, &ae) || ae.Code != api.CodeLimitExceeded {
		t.Fatalf("update past the limit: %v; want LimitExceeded", err)
	}
	if _, err := e.change(opShardCountUpdate, shardCountArgs{Name: "s", Target: 2}); !errors.As(err, &ae) || ae.Code != api.CodeLimitExceeded {
		t.Fatalf("a racing node's count past the limit, applied: %v; want LimitExceeded", err)
	}
	if _, err := e.change(opShardCountUpdate, shardCountArgs{Name: "s", Target: 5}); !errors.As(err, &ae) || ae.Code != api.CodeValidation {
		t.Fatalf("a racing node's count to a target out of range, applied: %v; want ValidationException", err)
	}
}

// A committed stream mode change is applied on a replica that is resharding
// the stream at that moment (its stream UPDATING), as on every other node.
func TestReplicaReshard_ModeChangeAppliedWhileUpdating(t *testing.T) {
	r := &logReplica{}
	e := openReplica(t, r, t.TempDir())
	defer e.Close()
	r.attach(e)
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 4}); err != nil {
		t.Fatal(err)
	}
	st, err := e.beginUpdate("s", "SplitShard")
	if err != nil {
		t.Fatal(err)
	}
	defer st.endUpdate()
	if err := e.SetStreamMode("s", api.OnDemand); err != nil {
		t.Fatalf("mode change applied while the stream is UPDATING here: %v", err)
	}
	if si, _ := e.DescribeStream("s"); si.Mode != api.OnDemand {
		t.Fatalf("mode %s; want ON_DEMAND", si.Mode)
	}
}
