package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// openTest opens an engine (in cluster mode, a replica of a three-node
// cluster: see openEngine) closed when the test ends.
func openTest(t testing.TB, mod func(*Options)) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	opts := Options{Dir: t.TempDir(), Quotas: &q, RetentionInterval: time.Hour}
	if mod != nil {
		mod(&opts)
	}
	e := openEngine(t, opts)
	t.Cleanup(func() { closeEngine(e) })
	return e
}

// openDir opens the engine in dir with unlimited quotas, for a test that
// closes (closeEngine) and reopens it.
func openDir(t testing.TB, dir string) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	return openEngine(t, Options{Dir: dir, Quotas: &q})
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustCreate(t testing.TB, e *Engine, name string, shards int) *api.StreamInfo {
	t.Helper()
	si, err := e.CreateStream(api.CreateStreamInput{Name: name, ShardCount: shards})
	if err != nil {
		t.Fatal(err)
	}
	return si
}

func put(t testing.TB, e *Engine, stream, key, data string) api.PutResult {
	t.Helper()
	r, err := e.PutRecord(stream, api.PutRecord{Key: []byte(key), Data: []byte(data)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustHold fails the test unless each acknowledged put of acked can be read
// at its sequence number in stream; when says after what.
func mustHold(t testing.TB, e *Engine, stream string, acked []api.PutResult, when string) {
	t.Helper()
	for _, r := range acked {
		pos := api.Position{Stream: stream, Incarnation: r.Seq.Incarnation, Shard: int(r.Seq.Shard), Seq: r.Seq.Seq}
		var rr ReadResult
		if err := e.Read(pos, 1, 0, ReadSubscription, &rr); err != nil || rr.Records != 1 {
			t.Fatalf("acknowledged record %v missing %s: %v", r.Seq, when, err)
		}
		rr.Release()
	}
}

// readShard reads every record shard i of stream holds now, from
// TRIM_HORIZON.
func readShard(t testing.TB, e *Engine, stream string, i int) []Record {
	t.Helper()
	pos, err := e.GetIterator(stream, api.ShardID(i), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := readAll(t, e, pos)
	return recs
}

// readAll reads a shard from pos until no more records are available now.
func readAll(t testing.TB, e *Engine, pos api.Position) ([]Record, api.Position, *ReadResult) {
	t.Helper()
	var out []Record
	var res ReadResult
	for {
		if err := e.Read(pos, 1000, 1<<20, ReadSubscription, &res); err != nil {
			t.Fatal(err)
		}
		it := res.Iter()
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			r.Key = bytes.Clone(r.Key)
			r.Data = bytes.Clone(r.Data)
			out = append(out, r)
		}
		n := res.Records
		pos = res.Next
		end := res.ShardEnd
		if n == 0 || end {
			final := res
			res.Release()
			return out, pos, &final
		}
		res.Release()
	}
}

func TestCreateStream_Validation(t *testing.T) {
	e := openTest(t, nil)
	cases := []struct {
		in   api.CreateStreamInput
		code api.Code
	}{
		{api.CreateStreamInput{Name: "", ShardCount: 1}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: "bad name", ShardCount: 1}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: string(make([]byte, 129)), ShardCount: 1}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: "s", ShardCount: 0}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: "s", ShardCount: 10001}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: "s", ShardCount: 1, RetentionHours: 23}, api.CodeInvalidArgument},
		{api.CreateStreamInput{Name: "s", ShardCount: 1, MaxRecordSize: 11 << 20}, api.CodeValidation},
	}
	for _, c := range cases {
		_, err := e.CreateStream(c.in)
		if api.CodeOf(err) != c.code {
			t.Errorf("CreateStream(%+v) = %v; want %v", c.in, err, c.code)
		}
	}
	mustCreate(t, e, "s", 2)
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); !errors.Is(err, api.ErrInUse) {
		t.Fatalf("second create = %v; want ResourceInUse", err)
	}
	si, err := e.CreateStream(api.CreateStreamInput{Name: "od", Mode: api.OnDemand})
	if err != nil || len(si.Shards) != api.OnDemandShards {
		t.Fatalf("on-demand stream: %v shards, err %v", si, err)
	}
}

func TestStreams_DescribeListDelete(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "b", 3)
	mustCreate(t, e, "a", 1)
	if got := e.ListStreams(); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("ListStreams = %v", got)
	}
	si, err := e.DescribeStream("b")
	if err != nil {
		t.Fatal(err)
	}
	if si.Status != api.StatusActive || len(si.Shards) != 3 || si.RetentionHours != 24 || si.MaxRecordSize != 1<<20 {
		t.Fatalf("describe: %+v", si)
	}
	if err := e.DeleteStream("b", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DescribeStream("b"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("describe after delete = %v", err)
	}
	if _, err := e.PutRecord("b", api.PutRecord{Key: []byte("k"), Data: []byte("x")}, ""); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("put after delete = %v", err)
	}
}

func TestPut_RoutesByHashKey(t *testing.T) {
	e := openTest(t, nil)
	si := mustCreate(t, e, "s", 5)
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("key-%d", i)
		r := put(t, e, "s", key, "v")
		h := api.HashPartitionKey([]byte(key)).Big()
		var want string
		for _, sh := range si.Shards {
			if sh.HashStart.Big().Cmp(h) <= 0 && h.Cmp(sh.HashEnd.Big()) <= 0 {
				want = sh.ID
			}
		}
		if r.ShardID != want {
			t.Fatalf("key %s went to %s; its hash %s belongs to %s", key, r.ShardID, h, want)
		}
	}
	// An explicit hash key overrides the partition key.
	r, err := e.PutRecord("s", api.PutRecord{Key: []byte("x"), Data: []byte("y"), ExplicitHash: api.MaxHashKey, HasExplicitHash: true}, "")
	if err != nil || r.ShardID != si.Shards[4].ID {
		t.Fatalf("explicit max hash key went to %s (%v)", r.ShardID, err)
	}
}

func TestPut_RejectsBadRecordsWholly(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	big := make([]byte, 1<<20)
	cases := []struct {
		name string
		recs []api.PutRecord
	}{
		{"empty key", []api.PutRecord{{Key: []byte("ok"), Data: []byte("1")}, {Key: nil, Data: []byte("x")}}},
		{"key too long", []api.PutRecord{{Key: bytes.Repeat([]byte("k"), 257), Data: []byte("x")}}},
		{"invalid utf8", []api.PutRecord{{Key: []byte{0xff, 0xfe}, Data: []byte("x")}}},
		{"record too large", []api.PutRecord{{Key: []byte("k"), Data: big}}},
		{"no records", nil},
		{"too many", make([]api.PutRecord, 501)},
	}
	for _, c := range cases {
		res := make([]api.PutResult, len(c.recs))
		if _, err := e.PutRecords("s", c.recs, res); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%s: err = %v; want InvalidArgument", c.name, err)
		}
	}
	if recs := readShard(t, e, "s", 0); len(recs) != 0 {
		t.Fatalf("%d records stored by rejected puts", len(recs))
	}
}

func TestPut_ConcurrentProducersOrderedWithoutGapsOrDuplicates(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	const producers, each = 16, 200
	var wg sync.WaitGroup
	acked := make([][]api.SeqNum, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := e.PutRecord("s", api.PutRecord{Key: []byte(fmt.Sprint(p)), Data: []byte(fmt.Sprintf("%d/%d", p, i))}, "")
				if err != nil {
					t.Error(err)
					return
				}
				acked[p] = append(acked[p], r.Seq)
			}
		}(p)
	}
	wg.Wait()
	recs := readShard(t, e, "s", 0)
	if len(recs) != producers*each {
		t.Fatalf("read %d records; want %d", len(recs), producers*each)
	}
	next := make([]int, producers)
	for i, r := range recs {
		if r.Seq.Seq != uint64(i) {
			t.Fatalf("record %d has sequence %d: gap or duplicate", i, r.Seq.Seq)
		}
		var p, n int
		fmt.Sscanf(string(r.Data), "%d/%d", &p, &n)
		if n != next[p] {
			t.Fatalf("producer %d: record %d read before %d", p, n, next[p])
		}
		if acked[p][n] != r.Seq {
			t.Fatalf("producer %d record %d acknowledged as %v, stored as %v", p, n, acked[p][n], r.Seq)
		}
		next[p]++
	}
}

func TestPutRecords_PerRecordResultsInOrder(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 4)
	recs := make([]api.PutRecord, 500)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte(fmt.Sprint("k", i)), Data: []byte(fmt.Sprint(i))}
	}
	res := make([]api.PutResult, len(recs))
	failed, err := e.PutRecords("s", recs, res)
	if err != nil || failed != 0 {
		t.Fatal(failed, err)
	}
	for i, r := range res {
		pos := api.Position{Stream: "s", Incarnation: r.Seq.Incarnation, Shard: int(r.Seq.Shard), Seq: r.Seq.Seq}
		var rr ReadResult
		if err := e.Read(pos, 1, 0, ReadSubscription, &rr); err != nil {
			t.Fatal(err)
		}
		it := rr.Iter()
		got, ok := it.Next()
		if !ok || string(got.Data) != fmt.Sprint(i) || got.Seq != r.Seq {
			t.Fatalf("result %d points at %q (%v)", i, got.Data, ok)
		}
		rr.Release()
	}
}

// TestPut_AcknowledgedRecordReadableAtOnce: an iterator at an acknowledged
// record's sequence number, asked of the engine (on a cluster, the node)
// that acknowledged it, right after the acknowledgement, reads it.
func TestPut_AcknowledgedRecordReadableAtOnce(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	for i := 0; i < 300; i++ {
		r := put(t, e, "s", "k", fmt.Sprint(i))
		pos, err := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.AtSequenceNumber, Seq: r.Seq.String()})
		if err != nil {
			t.Fatalf("put %d acknowledged as %v: %v", i, r.Seq, err)
		}
		var rr ReadResult
		if err := e.Read(pos, 1, 0, ReadSubscription, &rr); err != nil || rr.Records != 1 {
			t.Fatalf("put %d acknowledged as %v: read %d records, %v", i, r.Seq, rr.Records, err)
		}
		it := rr.Iter()
		if got, _ := it.Next(); string(got.Data) != fmt.Sprint(i) {
			t.Fatalf("put %d acknowledged as %v reads %q", i, r.Seq, got.Data)
		}
		rr.Release()
	}
}

func TestIterators_AllTypes(t *testing.T) {
	clk := newTestClock()
	e := openTest(t, func(o *Options) { o.Now = clk.now })
	mustCreate(t, e, "s", 1)
	var seqs []api.SeqNum
	for i := 0; i < 10; i++ {
		seqs = append(seqs, put(t, e, "s", "k", fmt.Sprint(i)).Seq)
		clk.advance(time.Second)
	}
	first := func(spec api.IteratorSpec) string {
		t.Helper()
		pos, err := e.GetIterator("s", api.ShardID(0), spec)
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		recs, _, _ := readAll(t, e, pos)
		if len(recs) == 0 {
			return "none"
		}
		return string(recs[0].Data)
	}
	if got := first(api.IteratorSpec{Type: api.TrimHorizon}); got != "0" {
		t.Errorf("TRIM_HORIZON starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.Latest}); got != "none" {
		t.Errorf("LATEST starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.AtSequenceNumber, Seq: seqs[4].String()}); got != "4" {
		t.Errorf("AT_SEQUENCE_NUMBER 4 starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: seqs[4].String()}); got != "5" {
		t.Errorf("AFTER_SEQUENCE_NUMBER 4 starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.AtTimestamp, Timestamp: time.Unix(1_800_000_006, 0)}); got != "6" {
		t.Errorf("AT_TIMESTAMP +6s starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.AtTimestamp, Timestamp: time.Unix(1_700_000_000, 0)}); got != "0" {
		t.Errorf("AT_TIMESTAMP before everything starts at %s", got)
	}
	if got := first(api.IteratorSpec{Type: api.AtTimestamp, Timestamp: time.Unix(1_900_000_000, 0)}); got != "none" {
		t.Errorf("AT_TIMESTAMP in the future starts at %s", got)
	}
	// The shard's own starting sequence number is accepted.
	si, _ := e.DescribeStream("s")
	if got := first(api.IteratorSpec{Type: api.AtSequenceNumber, Seq: si.Shards[0].StartingSeq.String()}); got != "0" {
		t.Errorf("AT the shard's starting sequence number starts at %s", got)
	}
	// The starting number is no record's: after it comes the first record.
	if si.Shards[0].StartingSeq.String() == seqs[0].String() {
		t.Errorf("the shard's starting number is the first record's")
	}
	if got := first(api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: si.Shards[0].StartingSeq.String()}); got != "0" {
		t.Errorf("AFTER the shard's starting sequence number starts at %s", got)
	}
	// LATEST then a put: the put is the first record read.
	pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.Latest})
	put(t, e, "s", "k", "after-latest")
	recs, _, _ := readAll(t, e, pos)
	if len(recs) != 1 || string(recs[0].Data) != "after-latest" {
		t.Errorf("LATEST then put read %d records", len(recs))
	}
	for _, bad := range []api.IteratorSpec{
		{Type: "SIDEWAYS"},
		{Type: api.AtSequenceNumber},
		{Type: api.AtSequenceNumber, Seq: "12"},
		{Type: api.AtSequenceNumber, Seq: api.SeqNum{Incarnation: seqs[0].Incarnation - 1, Seq: 1}.String()},
		{Type: api.AtSequenceNumber, Seq: api.SeqNum{Incarnation: seqs[0].Incarnation, Shard: 3, Seq: 1}.String()},
		{Type: api.AtSequenceNumber, Seq: api.SeqNum{Incarnation: seqs[0].Incarnation, Seq: 1000}.String()},
		{Type: api.AtTimestamp},
	} {
		if _, err := e.GetIterator("s", api.ShardID(0), bad); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("GetIterator(%+v) = %v; want InvalidArgument", bad, err)
		}
	}
	if _, err := e.GetIterator("s", api.ShardID(9), api.IteratorSpec{Type: api.Latest}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown shard: %v", err)
	}
}

func TestRead_MillisBehindLatest(t *testing.T) {
	clk := newTestClock()
	e := openTest(t, func(o *Options) { o.Now = clk.now })
	mustCreate(t, e, "s", 1)
	for i := 0; i < 3; i++ {
		put(t, e, "s", "k", "v")
		clk.advance(2 * time.Second)
	}
	pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	var res ReadResult
	if err := e.Read(pos, 1, 0, ReadSubscription, &res); err != nil {
		t.Fatal(err)
	}
	if res.MillisBehind != 4000 {
		t.Fatalf("one record into three, 2 s apart: MillisBehind = %d; want 4000", res.MillisBehind)
	}
	if err := e.Read(res.Next, 10, 0, ReadSubscription, &res); err != nil {
		t.Fatal(err)
	}
	if res.MillisBehind != 0 || res.Records != 2 {
		t.Fatalf("caught up: MillisBehind = %d, records %d", res.MillisBehind, res.Records)
	}
	res.Release()
}

func TestRead_WaitersWokenByCommitWhileWritersRun(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	const total = 2000
	pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.Latest})
	got := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		n := 0
		var res ReadResult
		defer res.Release()
		for n < total {
			if err := e.Wait(ctx, pos); err != nil {
				t.Error(err)
				break
			}
			if err := e.Read(pos, 100, 0, ReadSubscription, &res); err != nil {
				t.Error(err)
				break
			}
			it := res.Iter()
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if string(r.Data) != fmt.Sprint(n) {
					t.Errorf("record %d reads %q", n, r.Data)
				}
				n++
			}
			pos = res.Next
		}
		got <- n
	}()
	for i := 0; i < total; i++ {
		put(t, e, "s", "k", fmt.Sprint(i))
	}
	if n := <-got; n != total {
		t.Fatalf("reader saw %d of %d records", n, total)
	}
}

func TestReopen_RestoresCatalogAndData(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir)
	mustCreate(t, e, "s", 2)
	if err := e.AddTags("s", map[string]string{"team": "data"}); err != nil {
		t.Fatal(err)
	}
	if err := e.IncreaseRetention("s", 48); err != nil {
		t.Fatal(err)
	}
	var acked []api.PutResult
	for i := 0; i < 50; i++ {
		acked = append(acked, put(t, e, "s", fmt.Sprint(i), fmt.Sprint(i)))
	}
	if err := e.SplitShard("s", api.ShardID(0), api.EvenRanges(4)[1][0]); err != nil {
		t.Fatal(err)
	}
	before, _ := e.DescribeStream("s")
	if err := closeEngine(e); err != nil {
		t.Fatal(err)
	}
	e = openDir(t, dir)
	defer closeEngine(e)
	after, err := e.DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	if after.Tags["team"] != "data" || after.RetentionHours != 48 || len(after.Shards) != 4 || after.Incarnation != before.Incarnation {
		t.Fatalf("after reopen: %+v", after)
	}
	for i := range before.Shards {
		b, a := before.Shards[i], after.Shards[i]
		if a.ID != b.ID || a.Closed != b.Closed || a.EndingSeq != b.EndingSeq || a.Parent != b.Parent || a.NextSeq != b.NextSeq {
			t.Fatalf("shard %d: before %+v after %+v", i, b, a)
		}
	}
	mustHold(t, e, "s", acked, "after reopen")
}

func TestDeleteAndRecreate_OldSequenceNumbersDoNotResolve(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	old := put(t, e, "s", "k", "old")
	oldPos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err := e.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 1)
	put(t, e, "s", "k", "new")
	if _, err := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.AtSequenceNumber, Seq: old.Seq.String()}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("old sequence number on the new stream: %v", err)
	}
	var rr ReadResult
	if err := e.Read(oldPos, 10, 0, ReadSubscription, &rr); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("old position on the new stream: %v", err)
	}
}

func TestQuotas_ThrottlePerRecordAndCount(t *testing.T) {
	clk := newTestClock()
	e := openTest(t, func(o *Options) { o.Now = clk.now })
	q := ratelimit.Kinesis
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1, Quotas: &q}); err != nil {
		t.Fatal(err)
	}
	recs := make([]api.PutRecord, 500)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte("k"), Data: make([]byte, 10)}
	}
	res := make([]api.PutResult, 500)
	ok := 0
	for round := 0; round < 3; round++ {
		failed, err := e.PutRecords("s", recs, res)
		if err != nil {
			t.Fatal(err)
		}
		ok += 500 - failed
		for _, r := range res {
			if r.Err != nil && !errors.Is(r.Err, api.ErrThroughputExceeded) {
				t.Fatalf("unexpected per-record error %v", r.Err)
			}
		}
	}
	if ok != 1000 {
		t.Fatalf("accepted %d records in the same instant; the burst is 1000", ok)
	}
	var m ShardMetrics
	e.Metrics(func(x ShardMetrics) { m = x })
	if m.WriteThrottled != 500 || m.IncomingRecords != 1000 {
		t.Fatalf("metrics: %+v", m)
	}
	if recs := readShard(t, e, "s", 0); len(recs) != 1000 {
		t.Fatalf("stored %d records; want only the 1000 accepted", len(recs))
	}
	// Unlimited never throttles, from the next request on.
	if err := e.SetQuotas("s", &ratelimit.Unlimited); err != nil {
		t.Fatal(err)
	}
	if failed, err := e.PutRecords("s", recs, res); err != nil || failed != 0 {
		t.Fatalf("unlimited: %d failed, %v", failed, err)
	}
}

func TestRetention_ExpiresWholeSegmentsWithInjectedClock(t *testing.T) {
	clk := newTestClock()
	e := openTest(t, func(o *Options) {
		o.Now = clk.now
		o.SegmentSize = 64 << 10
	})
	mustCreate(t, e, "s", 1)
	data := string(make([]byte, 1000))
	for i := 0; i < 200; i++ {
		put(t, e, "s", "k", data)
	}
	clk.advance(23 * time.Hour)
	for i := 0; i < 200; i++ {
		put(t, e, "s", "k", data)
	}
	e.ExpireNow()
	if recs := readShard(t, e, "s", 0); len(recs) != 400 {
		t.Fatalf("nothing is 24 h old yet, but %d of 400 records remain", len(recs))
	}
	clk.advance(2 * time.Hour)
	e.ExpireNow()
	pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	recs, _, _ := readAll(t, e, pos)
	if len(recs) < 200 || len(recs) >= 400 {
		t.Fatalf("after the first 200 expired, %d records remain", len(recs))
	}
	cutoff := clk.now().Add(-24 * time.Hour).UnixNano()
	for _, r := range recs[len(recs)-200:] {
		if r.Arrival < cutoff {
			t.Fatalf("an expired record is still returned among the newest")
		}
	}
	old := api.Position{Stream: "s", Incarnation: pos.Incarnation, Shard: 0, Seq: 0}
	var rr ReadResult
	if err := e.Read(old, 1, 0, ReadSubscription, &rr); err != nil {
		t.Fatal(err)
	}
	if rr.Records != 1 || rr.view.First == 0 {
		t.Fatalf("a read at an expired position must start at the trim horizon (first %d)", rr.view.First)
	}
	rr.Release()
}

func TestDurabilityModes_RecordsReadable(t *testing.T) {
	for _, d := range []api.Durability{api.Always, api.Interval, api.None} {
		t.Run(d.String(), func(t *testing.T) {
			e := openTest(t, func(o *Options) { o.Durability = d; o.SyncInterval = time.Millisecond })
			mustCreate(t, e, "s", 1)
			for i := 0; i < 100; i++ {
				put(t, e, "s", "k", fmt.Sprint(i))
			}
			if recs := readShard(t, e, "s", 0); len(recs) != 100 {
				t.Fatalf("read %d of 100", len(recs))
			}
		})
	}
}

func TestClose_PutsAfterCloseFailCleanly(t *testing.T) {
	e := openDir(t, t.TempDir())
	mustCreate(t, e, "s", 2)
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v")}, "")
				if err != nil {
					// On a cluster, a put proposed before its node closed
					// may yet commit on the others: its outcome is unknown,
					// and it fails retryably.
					if !errors.Is(err, ErrClosed) && !(clusterMode() && api.CodeOf(err) == api.CodeInternal && strings.Contains(err.Error(), "outcome unknown")) {
						t.Errorf("put during close: %v", err)
					}
					return
				}
			}
		}()
	}
	put(t, e, "s", "k", "v")
	if err := closeEngine(e); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
