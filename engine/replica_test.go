package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// logReplica is a Replica with no Raft under it: it orders every entry and
// change in one log, as a group's committed log would, and applies each to
// every engine attached to it, in order. Tests use it to check what
// replicas that apply the same log hold.
type logReplica struct {
	mu      sync.Mutex
	engines []*Engine
	shards  []entryRec // the shard entries, in committed order
	changes [][]byte   // the catalog changes; change i has index i+1
	next    []map[[2]uint64]uint64
}

type entryRec struct {
	inc   uint32
	shard int
	data  []byte
}

func (r *logReplica) attach(e *Engine) {
	r.engines = append(r.engines, e)
	r.next = append(r.next, map[[2]uint64]uint64{})
}

func (r *logReplica) Append(inc uint32, shard int, entry []byte) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shards = append(r.shards, entryRec{inc, shard, entry})
	var first uint64
	for i, e := range r.engines {
		k := [2]uint64{uint64(inc), uint64(shard)}
		n, err := e.ApplyEntry(inc, shard, r.next[i][k], entry)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			first = r.next[i][k]
		}
		r.next[i][k] += uint64(n)
	}
	return first, nil
}

func (r *logReplica) Change(c *Change) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r.changes = append(r.changes, b)
	var res any
	for i, e := range r.engines {
		v, err := e.ApplyChange(uint64(len(r.changes)), b)
		if i == 0 {
			res = v
			if err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

func openReplica(t *testing.T, r *logReplica, dir string) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	e, err := Open(Options{Dir: dir, Quotas: &q, Replica: r})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// recordsOf reads every record of every shard of stream.
func recordsOf(t *testing.T, e *Engine, stream string) []string {
	t.Helper()
	si, err := e.DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sh := range si.Shards {
		for _, rec := range readShard(t, e, stream, sh.Index) {
			out = append(out, fmt.Sprintf("%s %d %d %s=%s", sh.ID, rec.Seq, rec.Arrival, rec.Key, rec.Data))
		}
	}
	return out
}

// Two replicas that apply the same log hold the same streams, with the same
// incarnations, and the same records at the same sequence numbers and
// arrival times; the acknowledgements name those numbers.
func TestReplica_ReplicasApplyingOneLogAgree(t *testing.T) {
	requireSingleNode(t, "the Replica interface, over a log of the test's own")
	r := &logReplica{}
	a := openReplica(t, r, t.TempDir())
	defer a.Close()
	b := openReplica(t, r, t.TempDir())
	defer b.Close()
	r.attach(a)
	r.attach(b)
	si, err := a.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 4})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.DescribeStream("s")
	if err != nil || sb.Incarnation != si.Incarnation {
		t.Fatalf("replica b: stream %+v, %v; want incarnation %d", sb, err, si.Incarnation)
	}
	var acked []api.PutResult
	for i := 0; i < 50; i++ {
		recs := make([]api.PutRecord, 10)
		for k := range recs {
			recs[k] = api.PutRecord{Key: []byte(fmt.Sprintf("k%d-%d", i, k)), Data: []byte(fmt.Sprintf("d%d-%d", i, k))}
		}
		res := make([]api.PutResult, len(recs))
		if failed, err := a.PutRecords("s", recs, res); err != nil || failed != 0 {
			t.Fatalf("put %d: %d failed, %v", i, failed, err)
		}
		acked = append(acked, res...)
	}
	mustHold(t, a, "s", acked, "on the replica that was asked")
	mustHold(t, b, "s", acked, "on the other replica")
	ra, rb := recordsOf(t, a, "s"), recordsOf(t, b, "s")
	if len(ra) != 500 || fmt.Sprint(ra) != fmt.Sprint(rb) {
		t.Fatalf("replicas differ or miss records: %d and %d records", len(ra), len(rb))
	}
	if err := a.AddTags("s", map[string]string{"team": "data"}); err != nil {
		t.Fatal(err)
	}
	if tb, _ := b.DescribeStream("s"); tb.Tags["team"] != "data" {
		t.Fatalf("replica b tags %v; want the change applied there too", tb.Tags)
	}
}

// A replica that restarts is handed again the entries after its last
// snapshot: the records its segments kept are not written twice, and the
// ones it lost are written where they belong.
func TestReplica_ReappliedEntriesAreNotWrittenTwice(t *testing.T) {
	requireSingleNode(t, "the Replica interface, over a log of the test's own")
	r := &logReplica{}
	dir := t.TempDir()
	e := openReplica(t, r, dir)
	r.attach(e)
	si, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		put(t, e, "s", "k", fmt.Sprintf("v%d", i))
	}
	before := recordsOf(t, e, "s")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openReplica(t, r, dir)
	defer e.Close()
	// The log from the start, as Raft hands it to a restarted node with
	// no snapshot: every change and entry again.
	for i, c := range r.changes {
		if _, err := e.ApplyChange(uint64(i+1), c); err != nil {
			t.Fatalf("change %d again: %v", i+1, err)
		}
	}
	var next uint64
	for _, en := range r.shards[:15] {
		n, err := e.ApplyEntry(si.Incarnation, 0, next, en.data)
		if err != nil {
			t.Fatal(err)
		}
		next += uint64(n)
	}
	if got := recordsOf(t, e, "s"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after applying entries again the shard holds %d records; want the same %d", len(got), len(before))
	}
	// One entry past the end: it gets the next number.
	entry := EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte("k"), Data: []byte("new")}}, []int32{0})
	if _, err := e.ApplyEntry(si.Incarnation, 0, 20, entry); err != nil {
		t.Fatal(err)
	}
	got := readShard(t, e, "s", 0)
	if len(got) != 21 || got[20].Seq.Seq != 20 || string(got[20].Data) != "new" {
		t.Fatalf("shard holds %d records, last %+v; want 21 with the new one at 20", len(got), got[len(got)-1])
	}
	// A change already applied is not applied again.
	if v, err := e.ApplyChange(1, r.changes[0]); v != nil || err != nil || e.AppliedChange() != uint64(len(r.changes)) {
		t.Fatalf("change 1 again: %v, %v, applied %d", v, err, e.AppliedChange())
	}
}

// An entry that would leave a hole in a shard (a replica missing records
// before it) is refused and fences the shard: it must be refilled.
func TestReplica_HoleFencesTheShard(t *testing.T) {
	requireSingleNode(t, "the Replica interface, over a log of the test's own")
	r := &logReplica{}
	e := openReplica(t, r, t.TempDir())
	defer e.Close()
	r.attach(e)
	si, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	entry := EncodeRecordsEntry(1, []api.PutRecord{{Key: []byte("k"), Data: []byte("v")}}, []int32{0})
	if _, err := e.ApplyEntry(si.Incarnation, 0, 5, entry); err == nil {
		t.Fatal("an entry starting at 5 of an empty shard was applied")
	}
	if _, err := e.ApplyEntry(si.Incarnation, 0, 0, entry); err == nil {
		t.Fatal("the fenced shard took another entry")
	}
	if len(e.Faults()) != 1 {
		t.Fatalf("faults %+v; want the shard's", e.Faults())
	}
}

// A malformed entry is refused whole, saying what is wrong.
func TestReplica_MalformedEntries(t *testing.T) {
	requireSingleNode(t, "the Replica interface, over a log of the test's own")
	good := EncodeRecordsEntry(7, []api.PutRecord{{Key: []byte("key"), Data: []byte("data")}}, []int32{0})
	for name, b := range map[string][]byte{
		"empty":      nil,
		"kind":       append([]byte{9}, good[1:]...),
		"truncated":  good[:len(good)-1],
		"trailing":   append(bytes.Clone(good), 0),
		"count over": append(bytes.Clone(good[:entryHeader]), 0xff, 0xff, 0x03),
	} {
		if _, err := EntryRecords(b); !errors.Is(err, errBadEntry) {
			t.Errorf("%s: %v; want a malformed-entry error", name, err)
		}
	}
	if n, err := EntryRecords(good); n != 1 || err != nil {
		t.Fatalf("good entry: %d, %v", n, err)
	}
}

// FuzzShardEntry: any bytes given as a shard entry are refused with an
// error or decode to records that lie within the entry; never a panic.
func FuzzShardEntry(f *testing.F) {
	recs := []api.PutRecord{{Key: []byte("a"), Data: []byte("b")}, {Key: []byte("key"), Data: make([]byte, 300)}}
	f.Add(EncodeRecordsEntry(1, recs, []int32{0, 1}))
	f.Add(EncodeRecordsEntry(1, recs, []int32{1}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ent, err := decodeRecordsEntry(b)
		if err != nil {
			return
		}
		rest := ent.body
		total := 0
		for i := 0; i < ent.count; i++ {
			var key, data []byte
			key, data, rest, err = nextRecord(rest)
			if err != nil {
				t.Fatalf("record %d of an entry that decoded: %v", i, err)
			}
			total += len(key) + len(data)
		}
		if len(rest) != 0 || total > len(b) {
			t.Fatalf("decoded %d records of %d bytes from %d bytes, %d left", ent.count, total, len(b), len(rest))
		}
	})
}
