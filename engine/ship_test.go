package engine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sluicedb/sluice/ratelimit"

	"github.com/sluicedb/sluice/api"
)

// behindReplicas makes two replicas of a one-shard stream that agree on its
// first 20 records, after which b stops applying (it is down) while a
// takes 300 more in puts of 10.
func behindReplicas(t *testing.T) (a, b *Engine, inc uint32) {
	t.Helper()
	r := &logReplica{}
	a = openReplica(t, r, t.TempDir())
	t.Cleanup(func() { a.Close() })
	b = openReplica(t, r, t.TempDir())
	t.Cleanup(func() { b.Close() })
	r.attach(a)
	r.attach(b)
	si, err := a.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		put(t, a, "s", "k", fmt.Sprintf("v%d", i))
	}
	r.mu.Lock()
	r.engines, r.next = r.engines[:1], r.next[:1]
	r.mu.Unlock()
	for i := 0; i < 30; i++ {
		recs := make([]api.PutRecord, 10)
		for k := range recs {
			recs[k] = api.PutRecord{Key: []byte(fmt.Sprintf("k%d", k)), Data: bytes.Repeat([]byte{byte(i)}, 100+i*k)}
		}
		res := make([]api.PutResult, len(recs))
		if failed, err := a.PutRecords("s", recs, res); err != nil || failed != 0 {
			t.Fatalf("put %d: %d failed, %v", i, failed, err)
		}
	}
	return a, b, si.Incarnation
}

// exported collects the chunks ExportShard hands out, copied.
func exported(t *testing.T, e *Engine, inc uint32, from, to uint64, maxBytes int) []ShipChunk {
	t.Helper()
	var out []ShipChunk
	err := e.ExportShard(inc, 0, from, to, maxBytes, func(c ShipChunk) error {
		out = append(out, ShipChunk{First: c.First, KeyBlob: slices.Clone(c.KeyBlob), Frames: slices.Clone(c.Frames)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func chunksOf(cs []ShipChunk) func(func(ShipChunk) error) error {
	return func(yield func(ShipChunk) error) error {
		for _, c := range cs {
			if err := yield(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// A replica that missed records is refilled from another's frames: it then
// holds every record at the same number and arrival time, stored in frames
// byte-identical to the other replica's.
func TestShip_RefillsAReplicaThatFellBehind(t *testing.T) {
	a, b, inc := behindReplicas(t)
	have, _ := b.SyncShard(inc, 0)
	next, _ := a.SyncShard(inc, 0)
	if have != 20 || next != 320 {
		t.Fatalf("replicas hold records up to %d and %d; want 20 and 320", have, next)
	}
	chunks := exported(t, a, inc, have, next, 4096)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks of at most 4 KiB for 300 records; want several", len(chunks))
	}
	got, err := b.InstallShard(inc, 0, chunksOf(chunks))
	if err != nil || got != next {
		t.Fatalf("install: next %d, %v; want %d", got, err, next)
	}
	if ra, rb := recordsOf(t, a, "s"), recordsOf(t, b, "s"); len(ra) != 320 || fmt.Sprint(ra) != fmt.Sprint(rb) {
		t.Fatalf("after the install the replicas hold %d and %d records, or differ", len(ra), len(rb))
	}
	fa, fb := exported(t, a, inc, 0, next, 0), exported(t, b, inc, 0, next, 0)
	var ba, bb []byte
	for _, c := range fa {
		ba = append(ba, c.Frames...)
	}
	for _, c := range fb {
		bb = append(bb, c.Frames...)
	}
	if !bytes.Equal(ba, bb) {
		t.Fatalf("the replicas' stored frames differ (%d and %d bytes)", len(ba), len(bb))
	}
	// Installing the same records again changes nothing.
	if got, err := b.InstallShard(inc, 0, chunksOf(chunks)); err != nil || got != next {
		t.Fatalf("install again: next %d, %v; want %d", got, err, next)
	}
	if rb := recordsOf(t, b, "s"); len(rb) != 320 {
		t.Fatalf("after a second install the replica holds %d records; want 320", len(rb))
	}
}

// Shipped bytes that are not the frames they claim to be are refused
// before anything is written: a flipped byte, frames at other numbers, a
// chunk cut inside a frame, records that would leave a hole.
func TestShip_BadChunksAreRefusedAndChangeNothing(t *testing.T) {
	a, b, inc := behindReplicas(t)
	chunks := exported(t, a, inc, 20, 320, 1<<20)
	corrupt := map[string]func(c *ShipChunk){
		"flipped byte": func(c *ShipChunk) { c.Frames[len(c.Frames)/2] ^= 0x40 },
		"wrong first":  func(c *ShipChunk) { c.First++ },
		"cut frame":    func(c *ShipChunk) { c.Frames = c.Frames[:len(c.Frames)-8] },
		"empty":        func(c *ShipChunk) { c.Frames = nil },
		"zero tail":    func(c *ShipChunk) { c.Frames = append(c.Frames, make([]byte, 16)...) },
	}
	for name, fn := range corrupt {
		t.Run(name, func(t *testing.T) {
			c := ShipChunk{First: chunks[0].First, Frames: slices.Clone(chunks[0].Frames)}
			fn(&c)
			_, err := b.InstallShard(inc, 0, chunksOf([]ShipChunk{c}))
			if !errors.Is(err, ErrShipCorrupt) {
				t.Fatalf("install of a chunk with a %s: %v; want ErrShipCorrupt", name, err)
			}
			if rb := recordsOf(t, b, "s"); len(rb) != 20 {
				t.Fatalf("after a refused install the replica holds %d records; want its 20", len(rb))
			}
		})
	}
	// Records starting past the replica's end would leave a hole.
	later := exported(t, a, inc, 100, 320, 1<<20)
	if _, err := b.InstallShard(inc, 0, chunksOf(later)); !errors.Is(err, ErrShipRange) {
		t.Fatalf("install of records from 100 on a replica holding 20: %v; want ErrShipRange", err)
	}
	// The replica was not fenced by any of it.
	if got, err := b.InstallShard(inc, 0, chunksOf(chunks)); err != nil || got != 320 {
		t.Fatalf("install of the good chunks: next %d, %v; want 320", got, err)
	}
}

// A replica exports only what it holds.
func TestShip_ExportOfRecordsNotHeld(t *testing.T) {
	_, b, inc := behindReplicas(t)
	err := b.ExportShard(inc, 0, 10, 30, 0, func(ShipChunk) error { return nil })
	if !errors.Is(err, ErrShipRange) {
		t.Fatalf("export of [10, 30) from a replica holding 20 records: %v; want ErrShipRange", err)
	}
	stop := errors.New("stop")
	if err := b.ExportShard(inc, 0, 0, 20, 64, func(ShipChunk) error { return stop }); err != stop {
		t.Fatalf("export whose callback fails: %v; want its error", err)
	}
}

// recordsOnly replicates records through a logReplica but leaves each
// engine its own catalog, as a replica whose streams are encrypted needs
// (encryption refuses a replicated catalog).
type recordsOnly struct{ r *logReplica }

func (ro recordsOnly) Append(inc uint32, shard int, entry []byte) (uint64, error) {
	return ro.r.Append(inc, shard, entry)
}

// Sealed frames are shipped sealed: the receiver opens them with their
// segment's data key (wrapped in the chunk) and seals the records again
// under its own, as an applied entry would be. It reads the same records.
func TestShip_EncryptedRecords(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	keys := openKeys(t, dirA)
	m, err := keys.CreateKey("orders")
	if err != nil {
		t.Fatal(err)
	}
	// Each catalog is made on a single node (encryption is refused on a
	// replica), then the engine is opened again as a replica.
	var inc uint32
	for _, dir := range []string{dirA, dirB} {
		e := openEncrypted(t, dir, func(o *Options) { o.Keys = keys })
		si, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1})
		if err != nil {
			t.Fatal(err)
		}
		if inc != 0 && si.Incarnation != inc {
			t.Fatalf("the two catalogs gave the stream incarnations %d and %d", inc, si.Incarnation)
		}
		inc = si.Incarnation
		if err := e.SetEncryption("s", "KMS", m.KeyID); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r := &logReplica{}
	open := func(dir string) *Engine {
		e := openEncrypted(t, dir, func(o *Options) { o.Keys = keys; o.Replica = recordsOnly{r} })
		t.Cleanup(func() { e.Close() })
		return e
	}
	a, b := open(dirA), open(dirB)
	r.attach(a)
	for i := 0; i < 50; i++ {
		put(t, a, "s", "k", fmt.Sprintf("secret-%d", i))
	}
	chunks := exported(t, a, inc, 0, 50, 0)
	if len(chunks[0].KeyBlob) == 0 || bytes.Contains(chunks[0].Frames, []byte("secret-1")) {
		t.Fatal("the exported chunk is not the sealed frames of a segment with a key header")
	}
	if got, err := b.InstallShard(inc, 0, chunksOf(chunks)); err != nil || got != 50 {
		t.Fatalf("install: next %d, %v; want 50", got, err)
	}
	if ra, rb := recordsOf(t, a, "s"), recordsOf(t, b, "s"); len(ra) != 50 || fmt.Sprint(ra) != fmt.Sprint(rb) {
		t.Fatalf("after the install the replicas read %d and %d records, or differ", len(ra), len(rb))
	}
	if hits := filesHolding(t, dirB, []byte("secret-1")); len(hits) != 0 {
		t.Fatalf("the receiver stores a record in the clear in %v", hits)
	}
	// A chunk whose key blob is another segment's fails authentication.
	bad := ShipChunk{First: 0, KeyBlob: exported(t, b, inc, 0, 50, 0)[0].KeyBlob, Frames: chunks[0].Frames}
	if bytes.Equal(bad.KeyBlob, chunks[0].KeyBlob) {
		t.Fatal("the two replicas' segments share a data key")
	}
	if _, err := b.InstallShard(inc, 0, chunksOf([]ShipChunk{bad})); !errors.Is(err, ErrShipCorrupt) {
		t.Fatalf("install of frames under another segment's key: %v; want ErrShipCorrupt", err)
	}
}

// BenchmarkShip_ExportInstall ships 4 MiB of records (1 KiB each) from one
// replica to another that holds none of them: the export in 1 MiB chunks,
// each checked, and the install with its sync. Bytes are the frames'.
func BenchmarkShip_ExportInstall(b *testing.B) {
	r := &logReplica{}
	open := func() *Engine {
		q := ratelimit.Unlimited
		e, err := Open(Options{Dir: b.TempDir(), Quotas: &q, Replica: r, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		r.attach(e)
		return e
	}
	src, dst := open(), open()
	recs := make([]api.PutRecord, 500)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte(fmt.Sprintf("k%d", i)), Data: bytes.Repeat([]byte{byte(i)}, 1<<10)}
	}
	res := make([]api.PutResult, len(recs))
	b.ReportAllocs()
	size := 0
	for i := 0; b.Loop(); i++ {
		// Each round a new stream on both replicas, whose records only
		// the source applies.
		b.StopTimer()
		name := fmt.Sprintf("s%d", i)
		r.mu.Lock()
		r.engines, r.next = []*Engine{src, dst}, append(r.next[:1], map[[2]uint64]uint64{})
		r.mu.Unlock()
		si, err := src.CreateStream(api.CreateStreamInput{Name: name, ShardCount: 1})
		if err != nil {
			b.Fatal(err)
		}
		r.mu.Lock()
		r.engines, r.next = r.engines[:1], r.next[:1]
		r.mu.Unlock()
		for range 8 {
			if failed, err := src.PutRecords(name, recs, res); err != nil || failed != 0 {
				b.Fatalf("put: %d failed, %v", failed, err)
			}
		}
		next, _ := src.SyncShard(si.Incarnation, 0)
		b.StartTimer()
		size = 0
		got, err := dst.InstallShard(si.Incarnation, 0, func(yield func(ShipChunk) error) error {
			return src.ExportShard(si.Incarnation, 0, 0, next, 1<<20, func(c ShipChunk) error {
				size += len(c.Frames)
				return yield(c)
			})
		})
		if err != nil || got != next {
			b.Fatalf("install: next %d, %v; want %d", got, err, next)
		}
	}
	b.SetBytes(int64(size))
}
