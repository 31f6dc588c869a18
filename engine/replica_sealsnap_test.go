package engine

import (
	"errors"
	"testing"

	"github.com/sluicedb/sluice/api"
)

// A replica that takes a shard group's snapshot in place of the entries it
// covers, a seal among them, takes the seal from the snapshot: it refuses
// the records entries after it and another reshard's seal, as the replica
// that applied the seal does, and keeps doing so after a restart. A
// snapshot without a seal clears one.
func TestReplicaReshard_SealRestoredFromSnapshot(t *testing.T) {
	open := func(dir string) (*Engine, uint32) {
		r := &logReplica{}
		e := openReplica(t, r, dir)
		r.attach(e)
		si, err := e.DescribeStream("s")
		if err != nil {
			info, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
			if err != nil {
				t.Fatal(err)
			}
			return e, info.Incarnation
		}
		return e, si.Incarnation
	}
	a, incA := open(t.TempDir())
	defer a.Close()
	dirB := t.TempDir()
	b, incB := open(dirB)
	recs := []api.PutRecord{{Key: []byte("k"), Data: []byte("d")}, {Key: []byte("k"), Data: []byte("e")}}
	ent := EncodeRecordsEntry(1, recs, []int32{0, 1})
	for _, x := range []struct {
		e   *Engine
		inc uint32
	}{{a, incA}, {b, incB}} {
		if _, err := x.e.ApplyEntry(x.inc, 0, 0, ent); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := a.SealState(incA, 0); st != nil || err != nil {
		t.Fatalf("the seal state of a shard not sealed: %q, %v; want none", st, err)
	}
	t1, t2 := [sealTokenLen]byte{1}, [sealTokenLen]byte{2}
	if _, err := a.ApplySeal(incA, 0, 2, EncodeSealEntry(true, t1, []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	state, err := a.SealState(incA, 0)
	if err != nil || state == nil {
		t.Fatalf("the seal state of a sealed shard: %q, %v", state, err)
	}
	if _, err := b.ApplyEntry(incB, 0, 2, ent); err != nil {
		t.Fatalf("before the snapshot, replica b takes records after 2: %v", err)
	}
	// Replica b restarts from its own earlier state and takes the
	// snapshot, which covers the seal, in place of the entries.
	b.Close()
	b, incB = open(dirB)
	defer func() { b.Close() }()
	if err := b.RestoreSeal(incB, 0, state); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if _, err := b.ApplyEntry(incB, 0, 2, ent); !errors.Is(err, ErrShardClosed) {
			t.Fatalf("%s: records after the restored seal: %v; want ErrShardClosed", when, err)
		}
		var ae *api.Error
		if _, err := b.ApplySeal(incB, 0, 2, EncodeSealEntry(true, t2, nil)); !errors.As(err, &ae) || ae.Code != api.CodeResourceInUse {
			t.Fatalf("%s: another reshard's seal after the restored seal: %v; want ResourceInUse", when, err)
		}
		if end, err := b.ApplySeal(incB, 0, 2, EncodeSealEntry(true, t1, nil)); end != 2 || err != nil {
			t.Fatalf("%s: the restored seal applied again: %d, %v; want its end, 2", when, end, err)
		}
	}
	check("restored")
	b.Close()
	b, incB = open(dirB)
	check("after a restart")
	if err := b.RestoreSeal(incB, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyEntry(incB, 0, 2, ent); err != nil {
		t.Fatalf("records after a snapshot without a seal: %v", err)
	}
	if err := b.RestoreSeal(incB, 0, []byte("{")); err == nil {
		t.Fatal("a malformed seal was restored")
	}
}
