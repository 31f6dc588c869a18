package raftlog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/vfs"
)

// seedFile returns the bytes of the first file of a log written by a
// workload, as the fuzzer's starting point.
func seedFile(f *testing.F, seed uint64, saves int) []byte {
	mem := vfs.NewMem()
	l := openLog(f, mem, Options{FileSize: 8 << 10})
	w := newWorkload(seed)
	m := models{}
	for range saves {
		us, cs := w.updates(f, l, m)
		saveWork(f, l, m, us, cs)
	}
	saveAll(f, l, m, []cluster.Update{{Group: 77, Entries: ents(77, 1, 4, 2, 5)}})
	st := mustGroup(f, l, 77)
	if _, err := st.CreateSnapshot(2, &raftpb.ConfState{Voters: []uint64{1, 2}}, []byte("d")); err != nil {
		f.Fatal(err)
	}
	if err := st.Compact(1); err != nil {
		f.Fatal(err)
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := vfs.ReadFile(mem, filepath.Join(dir, fileName(1)), 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzReplay opens a log directory holding one file of arbitrary bytes.
// Open either fails with an error or gives a consistent state: every group
// it lists answers for its whole range with entries of the right index and
// term, and the log takes a Save and reopens to the same. Never a panic,
// and no allocation beyond the file's size.
func FuzzReplay(f *testing.F) {
	f.Add(seedFile(f, 1, 5))
	f.Add(seedFile(f, 2, 20))
	valid := seedFile(f, 3, 3)
	f.Add(valid[:len(valid)/2])
	f.Add(make([]byte, 100))
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, file []byte) {
		mem := vfs.NewMem()
		if err := vfs.MkdirAllSync(mem, dir); err != nil {
			t.Fatal(err)
		}
		fh, err := mem.OpenFile(filepath.Join(dir, fileName(1)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if len(file) > 0 {
			if _, err := fh.WriteAt(file, 0); err != nil {
				t.Fatal(err)
			}
		}
		fh.Sync()
		fh.Close()
		l, err := Open(dir, Options{FS: mem, FileSize: 4 << 10, Logger: quiet()})
		if err != nil {
			return
		}
		groups := l.Groups()
		got := map[uint64]string{}
		for _, g := range groups {
			got[g] = describe(t, l, g)
		}
		us := []cluster.Update{{Group: 1 << 40, Entries: ents(1<<40, 1, 3, 1, 10), HardState: hardState(1, 1, 2)}}
		if err := l.Save(us); err != nil {
			t.Fatalf("Save after replay: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(dir, Options{FS: mem, FileSize: 4 << 10, Logger: quiet()})
		if err != nil {
			t.Fatalf("reopen after a Save: %v", err)
		}
		defer l.Close()
		for _, g := range groups {
			if d := describe(t, l, g); d != got[g] {
				t.Fatalf("group %d was %s, after a Save and a reopen %s", g, got[g], d)
			}
		}
	})
}

// describe checks that group g answers consistently and summarises it.
func describe(t *testing.T, l *Log, g uint64) string {
	st := mustGroup(t, l, g)
	first, err := st.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first > last+1 {
		t.Fatalf("group %d: first index %d after last %d + 1", g, first, last)
	}
	hs, cs, err := st.InitialState()
	if err != nil || cs == nil {
		t.Fatalf("group %d: InitialState: %v, %v", g, cs, err)
	}
	snap, err := st.Snapshot()
	if err != nil || snap.GetMetadata() == nil {
		t.Fatalf("group %d: Snapshot: %v", g, err)
	}
	prev, err := st.Term(first - 1)
	if err != nil {
		t.Fatalf("group %d: Term(%d): %v", g, first-1, err)
	}
	sum := uint64(0)
	if last >= first {
		es, err := st.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatalf("group %d: Entries(%d, %d): %v", g, first, last+1, err)
		}
		if uint64(len(es)) != last-first+1 {
			t.Fatalf("group %d: %d entries for [%d, %d]", g, len(es), first, last)
		}
		for k, e := range es {
			term, err := st.Term(first + uint64(k))
			if e.GetIndex() != first+uint64(k) || err != nil || term != e.GetTerm() {
				t.Fatalf("group %d: entry %d has index %d, term %d; Term says %d, %v", g, first+uint64(k), e.GetIndex(), e.GetTerm(), term, err)
			}
			sum += e.GetTerm()*31 + uint64(len(e.GetData()))
		}
	}
	return fmt.Sprint(first, last, prev, sum, hs.GetTerm(), hs.GetVote(), hs.GetCommit(), snap.GetMetadata().GetIndex(), len(snap.GetData()))
}
