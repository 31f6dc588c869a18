package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

// catalogFixture is a closed data directory holding two streams with records,
// one of them resharded, and what was acknowledged into each.
type catalogFixture struct {
	dir   string
	incs  map[string]uint32
	acked map[string][]api.PutResult
	data  map[api.SeqNum]string
}

func newCatalogFixture(t *testing.T) *catalogFixture {
	t.Helper()
	dir := t.TempDir()
	e := openDir(t, dir)
	f := &catalogFixture{dir: dir, incs: map[string]uint32{}, acked: map[string][]api.PutResult{}, data: map[api.SeqNum]string{}}
	for _, s := range []struct {
		name   string
		shards int
	}{{"orders", 3}, {"clicks", 1}} {
		si := mustCreate(t, e, s.name, s.shards)
		f.incs[s.name] = si.Incarnation
	}
	add := func(stream string, n int) {
		for i := 0; i < n; i++ {
			d := fmt.Sprintf("%s-%d", stream, len(f.acked[stream]))
			r := put(t, e, stream, d, d)
			f.acked[stream] = append(f.acked[stream], r)
			f.data[r.Seq] = d
		}
	}
	add("orders", 60)
	add("clicks", 20)
	// A split makes lineage that only the catalog knows.
	if err := e.SplitShard("orders", api.ShardID(0), api.EvenRanges(6)[1][0]); err != nil {
		t.Fatal(err)
	}
	add("orders", 40)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOpen_MissingCatalogWithDataRefused(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	f := newCatalogFixture(t)
	if err := os.Remove(filepath.Join(f.dir, catalogName)); err != nil {
		t.Fatal(err)
	}
	q := ratelimit.Unlimited
	_, err := Open(Options{Dir: f.dir, Quotas: &q})
	if err == nil {
		t.Fatal("Open without a catalog but with stream data succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"catalog " + filepath.Join(f.dir, catalogName) + " is missing", "2 stream directories",
		fmt.Sprintf("%010d (orders)", f.incs["orders"]), fmt.Sprintf("%010d (clicks)", f.incs["clicks"]),
		"Restore", "--recover-catalog", "move"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not say %q: %s", want, msg)
		}
	}
	// Nothing was removed.
	for name, inc := range f.incs {
		if _, err := os.Stat(filepath.Join(f.dir, streamsDirName, fmt.Sprintf("%010d", inc), api.ShardID(0))); err != nil {
			t.Errorf("stream %s lost its data after the refusal: %v", name, err)
		}
	}
}

func TestOpen_DamagedCatalogWithDataRefusedWithAdvice(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	f := newCatalogFixture(t)
	path := filepath.Join(f.dir, catalogName)
	if err := os.WriteFile(path, []byte(`{"crc":1,"doc":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	q := ratelimit.Unlimited
	_, err := Open(Options{Dir: f.dir, Quotas: &q})
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "--recover-catalog") {
		t.Fatalf("Open with a damaged catalog: %v", err)
	}
}

// checkRecovered opens dir with RecoverCatalog and checks that every
// acknowledged record reads back, at its old sequence number and from
// TRIM_HORIZON of its shard, and that the streams take new records.
func checkRecovered(t *testing.T, f *catalogFixture) {
	t.Helper()
	q := ratelimit.Unlimited
	e, err := Open(Options{Dir: f.dir, Quotas: &q, RecoverCatalog: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.ListStreams(); fmt.Sprint(got) != "[clicks orders]" {
		t.Fatalf("recovered streams %v, want [clicks orders]", got)
	}
	for name, acked := range f.acked {
		si, err := e.DescribeStream(name)
		if err != nil {
			t.Fatal(err)
		}
		if si.Incarnation != f.incs[name] {
			t.Fatalf("%s: incarnation %d, want %d", name, si.Incarnation, f.incs[name])
		}
		seen := map[api.SeqNum]string{}
		for _, sh := range si.Shards {
			pos, err := e.GetIterator(name, sh.ID, api.IteratorSpec{Type: api.TrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			recs, _, _ := readAll(t, e, pos)
			for _, r := range recs {
				seen[r.Seq] = string(r.Data)
			}
		}
		if len(seen) != len(acked) {
			t.Errorf("%s: %d records read back, %d acknowledged", name, len(seen), len(acked))
		}
		for _, r := range acked {
			if seen[r.Seq] != f.data[r.Seq] {
				t.Errorf("%s: record %v reads %q, want %q", name, r.Seq, seen[r.Seq], f.data[r.Seq])
			}
			pos, err := e.GetIterator(name, r.ShardID, api.IteratorSpec{Type: api.AtSequenceNumber, Seq: r.Seq.String()})
			if err != nil {
				t.Fatalf("%s: old sequence number %v: %v", name, r.Seq, err)
			}
			var rr ReadResult
			if err := e.Read(pos, 1, 0, ReadSubscription, &rr); err != nil || rr.Records != 1 {
				t.Fatalf("%s: record %v not readable at its sequence number: %v", name, r.Seq, err)
			}
			rr.Release()
		}
		put(t, e, name, "after", "after")
	}
}

func TestOpen_RecoverCatalogBringsBackEveryRecord(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	f := newCatalogFixture(t)
	if err := os.Remove(filepath.Join(f.dir, catalogName)); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, f)
	// The rebuilt catalog is durable: a plain open finds it.
	q := ratelimit.Unlimited
	e, err := Open(Options{Dir: f.dir, Quotas: &q})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ListStreams(); len(got) != 2 {
		t.Fatalf("after recovery and reopen: %v", got)
	}
	e.Close()
}

func TestOpen_RecoverCatalogKeepsTheDamagedOne(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	f := newCatalogFixture(t)
	path := filepath.Join(f.dir, catalogName)
	bad := []byte(`{"crc":1,"doc":{}}`)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, f)
	kept, err := os.ReadFile(path + damagedSuffix)
	if err != nil || string(kept) != string(bad) {
		t.Fatalf("damaged catalog not kept: %q, %v", kept, err)
	}
}

func TestOpen_RecoverCatalogWithoutIdentityNamesByIncarnation(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	f := newCatalogFixture(t)
	if err := os.Remove(filepath.Join(f.dir, catalogName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.dir, streamsDirName, fmt.Sprintf("%010d", f.incs["clicks"]), streamIdentName)); err != nil {
		t.Fatal(err)
	}
	q := ratelimit.Unlimited
	e, err := Open(Options{Dir: f.dir, Quotas: &q, RecoverCatalog: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := fmt.Sprintf("recovered-%010d", f.incs["clicks"])
	got := e.ListStreams()
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint([]string{"orders", want}) {
		t.Fatalf("streams %v, want orders and %s", got, want)
	}
	if recs := readShard(t, e, want, 0); len(recs) != len(f.acked["clicks"]) {
		t.Fatalf("%d records, want %d", len(recs), len(f.acked["clicks"]))
	}
}

func TestOpen_OrphanDirectoryKeptUnlessRemovalAsked(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	dir := t.TempDir()
	e := openDir(t, dir)
	mustCreate(t, e, "kept", 1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	oldCatalog, err := os.ReadFile(filepath.Join(dir, catalogName))
	if err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir)
	orphan := mustCreate(t, e, "orphan", 1)
	put(t, e, "orphan", "k", "precious")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A catalog restored from the older copy does not name "orphan".
	if err := os.WriteFile(filepath.Join(dir, catalogName), oldCatalog, 0o644); err != nil {
		t.Fatal(err)
	}
	orphanDir := filepath.Join(dir, streamsDirName, fmt.Sprintf("%010d", orphan.Incarnation))

	e = openDir(t, dir)
	if got := e.Orphans(); len(got) != 1 || got[0] != orphanDir {
		t.Fatalf("Orphans() = %v, want [%s]", got, orphanDir)
	}
	if _, err := os.Stat(filepath.Join(orphanDir, api.ShardID(0))); err != nil {
		t.Fatalf("orphan directory removed without the option: %v", err)
	}
	// A new stream never takes the orphan's incarnation.
	if si := mustCreate(t, e, "new", 1); si.Incarnation <= orphan.Incarnation {
		t.Fatalf("new stream has incarnation %d, not past the orphan's %d", si.Incarnation, orphan.Incarnation)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	q := ratelimit.Unlimited
	e, err = Open(Options{Dir: dir, Quotas: &q, RemoveOrphans: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := os.Stat(orphanDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan directory still there with RemoveOrphans: %v", err)
	}
	if len(e.Orphans()) != 0 {
		t.Fatalf("Orphans() after removal: %v", e.Orphans())
	}
}

func TestCreateStream_DirectoriesSurvivePowerLoss(t *testing.T) {
	requireSingleNode(t, "a power cut of the single node's in-memory file system")
	mem := vfs.NewMem()
	q := ratelimit.Unlimited
	opts := Options{Dir: "/data", FS: mem, Quotas: &q, SegmentSize: 1 << 20, Durability: api.Always}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	si := mustCreate(t, e, "s", 2)
	var acked []api.PutResult
	for i := 0; i < 10; i++ {
		acked = append(acked, put(t, e, "s", fmt.Sprint(i), fmt.Sprint(i)))
	}
	mem.Crash() // power loss: only what was synced, files and directory entries, remains
	e2, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	id, ok := e2.readIdent(si.Incarnation)
	if !ok || id.Name != "s" {
		t.Fatalf("stream.json lost: %+v", id)
	}
	mustHold(t, e2, "s", acked, "after the crash")
}
