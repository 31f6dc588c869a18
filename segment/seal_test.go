package segment

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// testSealer stands in for the engine's key service: blobs are random ids
// of keys it keeps in memory (across "restarts" of a log, as a keyring
// does). Bumping gen makes every key it gave out stale (Current false), as
// a change of the stream's master key does.
type testSealer struct {
	mu     sync.Mutex
	keys   map[string][]byte
	gen    int
	made   int
	failed error // NewKey fails with it while set
}

func newTestSealer() *testSealer { return &testSealer{keys: map[string][]byte{}} }

type testDataKey struct {
	fc    record.FrameCipher
	lanes [MaxSealLanes]record.FrameCipher
	s     *testSealer
	gen   int
}

func (k *testDataKey) Seal(f []byte, lane int) { k.lanes[lane].Seal(f) }
func (k *testDataKey) Current() bool {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	return k.gen == k.s.gen
}

func (s *testSealer) NewKey() ([]byte, DataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, nil, s.failed
	}
	key, blob := make([]byte, 32), make([]byte, 81)
	rand.Read(key)
	rand.Read(blob)
	s.keys[string(blob)] = key
	s.made++
	return blob, s.dataKey(key), nil
}

func (s *testSealer) dataKey(key []byte) *testDataKey {
	blk, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(blk)
	k := &testDataKey{fc: record.FrameCipher{AEAD: a, Incarnation: 1, Shard: 2}, s: s, gen: s.gen}
	for i := range k.lanes {
		k.lanes[i] = k.fc
	}
	return k
}

func (s *testSealer) OpenKey(blob []byte) (DataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.keys[string(blob)]
	if !ok {
		return nil, errors.New("unknown blob")
	}
	return s.dataKey(key), nil
}

func (s *testSealer) newKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.made
}

// openSealedView returns the view's frames with every sealed frame opened,
// or nil if the log has no test sealer.
func openSealedView(t testing.TB, l *Log, v *View) []byte {
	ts, ok := l.opts.Sealer.(*testSealer)
	if !ok {
		return nil
	}
	var out []byte
	var dk *testDataKey
	for off := 0; off < len(v.Frames); {
		n := record.FrameLen(v.Frames[off:])
		f := v.Frames[off : off+n]
		if record.FrameFlags(f)&record.FlagEncrypted == 0 {
			out = append(out, f...)
		} else {
			if dk == nil {
				k, err := ts.OpenKey(v.KeyBlob())
				if err != nil {
					t.Fatalf("key of a view with sealed frames: %v", err)
				}
				dk = k.(*testDataKey)
			}
			dst := make([]byte, n)
			w, _, err := dk.fc.Open(dst, f)
			if err != nil {
				t.Fatalf("open sealed frame at %d: %v", off, err)
			}
			out = append(out, dst[:w]...)
		}
		off += n
	}
	return out
}

// sealedRecords makes n records to be added with AddSealed.
func sealedRecords(rng *mrand.Rand, n, maxData int, t0 int64) []testRecord {
	recs := randomRecords(rng, n, maxData, t0)
	for i := range recs {
		recs[i].flags = record.FlagEncrypted
	}
	return recs
}

// appendSealed writes recs as one batch, sealing those flagged encrypted.
func appendSealed(t testing.TB, l *Log, b *Batch, recs []testRecord, sync bool) error {
	t.Helper()
	l.Begin(b)
	for i := range recs {
		if recs[i].flags&record.FlagEncrypted != 0 {
			recs[i].seq, recs[i].t = b.AddSealed(recs[i].t, recs[i].key, recs[i].data)
		} else {
			recs[i].seq, recs[i].t = b.Add(recs[i].t, recs[i].flags, recs[i].key, recs[i].data)
		}
	}
	if err := l.Write(b); err != nil {
		return err
	}
	if sync {
		if err := l.Sync(); err != nil {
			return err
		}
	}
	l.Publish()
	return nil
}

// filesContain reports the files under dir that contain marker.
func filesContain(t testing.TB, fsys vfs.FS, dir string, marker []byte) []string {
	var hits []string
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := f.Size()
		b := make([]byte, size)
		f.ReadAt(b, 0)
		f.Close()
		if bytes.Contains(b, marker) {
			hits = append(hits, name)
		}
	}
	return hits
}

func TestSeal_RoundTripAcrossRollsWithoutPlaintextOnDisk(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(1, 2))
	marker := []byte("MARKER-do-not-store-in-clear")
	var want []testRecord
	var b Batch
	for batch := 0; batch < 40; batch++ {
		recs := sealedRecords(rng, 1+rng.IntN(30), 3000, int64(1e9+batch*1e6))
		recs[0].key = marker
		recs[len(recs)-1].data = append(bytes.Clone(marker), recs[len(recs)-1].data...)
		if err := appendSealed(t, l, &b, recs, batch%2 == 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	segs := segFiles(t, mem, testDir)
	if len(segs) < 3 {
		t.Fatalf("%d segments; want several rolls", len(segs))
	}
	if ts.newKeys() != len(segs) {
		t.Fatalf("%d data keys for %d segments; want one each", ts.newKeys(), len(segs))
	}
	for _, lim := range []struct{ recs, bytes int }{{0, 0}, {1, 0}, {7, 0}, {0, 10000}} {
		checkRecords(t, readAll(t, l, lim.recs, lim.bytes), want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if hits := filesContain(t, mem, testDir, marker); len(hits) > 0 {
		t.Fatalf("the marker is stored in the clear in %v", hits)
	}
	// A clean reopen resumes the active segment's data key: no new segment.
	l, rec := openLog(t, testDir, opts)
	if !rec.Clean {
		t.Fatalf("recovery %+v; want clean", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
	more := sealedRecords(rng, 3, 100, 2e9)
	if err := appendSealed(t, l, &b, more, true); err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	if n := len(segFiles(t, mem, testDir)); n != len(segs) {
		t.Fatalf("a write after a clean reopen made %d segments of %d", n, len(segs))
	}
	// After a crash the active segment's key is not reused: the next sealed
	// write starts a segment of its own.
	mem.Crash()
	l, rec = openLog(t, testDir, opts)
	if rec.Clean {
		t.Fatal("recovery after a crash says clean")
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
	more = sealedRecords(rng, 3, 100, 3e9)
	if err := appendSealed(t, l, &b, more, true); err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	if n := len(segFiles(t, mem, testDir)); n != len(segs)+1 {
		t.Fatalf("a sealed write after a crash left %d segments; want %d", n, len(segs)+1)
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
}

func TestSeal_PlainThenSealedThenPlain(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(3, 4))
	var want []testRecord
	var b Batch
	plain := randomRecords(rng, 5, 100, 1e9)
	sealed := sealedRecords(rng, 5, 100, 2e9)
	plainAgain := randomRecords(rng, 5, 100, 3e9)
	for _, recs := range [][]testRecord{plain, sealed, plainAgain} {
		if err := appendSealed(t, l, &b, recs, true); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	// The first sealed frame needs a key header: a segment of its own.
	if n := len(segFiles(t, mem, testDir)); n != 2 {
		t.Fatalf("%d segments; want the plain one and the sealed one", n)
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
	// A change of master key starts another segment.
	ts.mu.Lock()
	ts.gen++
	ts.mu.Unlock()
	more := sealedRecords(rng, 2, 100, 4e9)
	if err := appendSealed(t, l, &b, more, true); err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	if n := len(segFiles(t, mem, testDir)); n != 3 {
		t.Fatalf("%d segments after the master key changed; want 3", n)
	}
	mem.Crash()
	l, _ = openLog(t, testDir, opts)
	checkRecords(t, readAll(t, l, 0, 0), want)
}

func TestSeal_KeyFailureWritesNothingAndDoesNotFence(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(5, 6))
	var b Batch
	ts.failed = errors.New("key disabled")
	err := appendSealed(t, l, &b, sealedRecords(rng, 3, 100, 1e9), true)
	if !errors.Is(err, ts.failed) || !errors.Is(err, ErrTransient) || l.Err() != nil {
		t.Fatalf("Write with a failing key service = %v (log err %v); want the key error, transient, log not fenced", err, l.Err())
	}
	ts.failed = nil
	recs := sealedRecords(rng, 3, 100, 2e9)
	if err := appendSealed(t, l, &b, recs, true); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, readAll(t, l, 0, 0), recs)

	plain := Options{FS: mem, SegmentSize: opts.SegmentSize}
	l2, _ := openLog(t, "/other", plain)
	if err := appendSealed(t, l2, &b, sealedRecords(rng, 1, 10, 1e9), true); !errors.Is(err, ErrNoSealer) {
		t.Fatalf("sealed write on a log without a sealer = %v; want ErrNoSealer", err)
	}
}

func TestSeal_TornKeyHeaderEmptiesTheActiveSegment(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(7, 8))
	var b Batch
	want := sealedRecords(rng, 4, 100, 1e9)
	if err := appendSealed(t, l, &b, want, true); err != nil {
		t.Fatal(err)
	}
	// Unsynced: a sealed batch that rolls to a new segment with a new header.
	ts.mu.Lock()
	ts.gen++
	ts.mu.Unlock()
	if err := appendSealed(t, l, &b, sealedRecords(rng, 4, 100, 2e9), false); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, mem, testDir)
	last := filepath.Join(testDir, segs[len(segs)-1])
	mem.Crash()
	// Damage both slots of the new segment's header, as a torn write may.
	{ // the crash kept the header's bytes, torn
		f := openRW(t, mem, last)
		hdr := appendKeyHeader(nil, []byte("x"))
		hdr[20] ^= 1
		f.WriteAt(hdr, 0)
		f.Sync()
		f.Close()
	}
	l, rec := openLog(t, testDir, opts)
	if rec.TruncatedBytes == 0 {
		t.Fatalf("recovery %+v cut nothing of the torn header", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
	more := sealedRecords(rng, 2, 100, 3e9)
	if err := appendSealed(t, l, &b, more, true); err != nil {
		t.Fatalf("after recovery %+v: %v", rec, err)
	}
	checkRecords(t, readAll(t, l, 0, 0), append(want, more...))
}

func TestSeal_DamagedKeyHeaderOfSealedSegmentRefusesOpen(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(9, 10))
	var b Batch
	for i := 0; i < 30; i++ {
		if err := appendSealed(t, l, &b, sealedRecords(rng, 20, 1000, int64(1e9+i)), true); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs := segFiles(t, mem, testDir)
	first := filepath.Join(testDir, segs[0])
	flipByte(t, mem, first, 16+10)
	flipByte(t, mem, first, 16+keySlotSize+10)
	if _, _, err := Open(testDir, opts); !errors.Is(err, ErrKeyHeaderDamaged) || !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("Open with a sealed segment's key header damaged = %v; want ErrKeyHeaderDamaged", err)
	}
}

func TestRewrap_RewritesKeyHeadersNotRecords(t *testing.T) {
	mem := vfs.NewMem()
	ts := newTestSealer()
	opts := smallOpts(mem)
	opts.Sealer = ts
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(11, 12))
	var b Batch
	var want []testRecord
	for i := 0; i < 30; i++ {
		recs := sealedRecords(rng, 20, 1000, int64(1e9+i))
		if err := appendSealed(t, l, &b, recs, true); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	segs := segFiles(t, mem, testDir)
	before := map[string][]byte{}
	for _, name := range segs {
		f := openRW(t, mem, filepath.Join(testDir, name))
		size, _ := f.Size()
		bb := make([]byte, size)
		f.ReadAt(bb, 0)
		f.Close()
		before[name] = bb
	}
	// Rewrap each blob to a new id mapping to the same key.
	rewrap := func(blob []byte) ([]byte, bool, error) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		nb := append([]byte("rewrapped-"), blob[:40]...)
		ts.keys[string(nb)] = ts.keys[string(blob)]
		return nb, true, nil
	}
	for round := 0; round < 3; round++ {
		n, err := l.Rewrap(rewrap)
		if err != nil || n != len(segs) {
			t.Fatalf("Rewrap = %d, %v; want %d segments", n, err, len(segs))
		}
	}
	checkRecords(t, readAll(t, l, 0, 0), want)
	for _, name := range segs {
		f := openRW(t, mem, filepath.Join(testDir, name))
		size, _ := f.Size()
		bb := make([]byte, size)
		f.ReadAt(bb, 0)
		f.Close()
		if !bytes.Equal(bb[KeyHeaderSize:], before[name][KeyHeaderSize:]) {
			t.Fatalf("Rewrap changed record bytes of %s", name)
		}
		h, err := parseKeyHeader(bb)
		if err != nil || h.gen != 4 || !bytes.HasPrefix(h.blob, []byte("rewrapped-")) {
			t.Fatalf("%s key header after 3 rewraps: %+v, %v", name, h, err)
		}
	}
	mem.Crash()
	l, _ = openLog(t, testDir, opts)
	checkRecords(t, readAll(t, l, 0, 0), want)
}

// TestBatch_SealedNoAllocWhenWarm: small batches are sealed by the writer,
// large ones (past parallelSealBytes) on several cores; neither allocates.
func TestBatch_SealedNoAllocWhenWarm(t *testing.T) {
	for _, n := range []int{50, 500} {
		opts := Options{FS: vfs.NewMem(), SegmentSize: 64 << 20, Sealer: newTestSealer()}
		l, _ := openLog(t, testDir, opts)
		var b Batch
		key, data := []byte("partition"), make([]byte, 1000)
		run := func() {
			l.Begin(&b)
			for range n {
				b.AddSealed(1, key, data)
			}
			if err := l.Write(&b); err != nil {
				t.Fatal(err)
			}
			l.Publish()
		}
		run()
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Fatalf("a warm sealed batch of %d records allocates %.1f times per Begin/AddSealed/Write/Publish", n, a)
		}
		l.Close()
	}
}

// TestSeal_LargeBatchesSealedInSharesReadBack: batches past
// parallelSealBytes, sealed in shares on several goroutines, read back
// intact after a crash.
func TestSeal_LargeBatchesSealedInSharesReadBack(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, SegmentSize: 1 << 20, Sealer: newTestSealer()}
	l, _ := openLog(t, testDir, opts)
	rng := mrand.New(mrand.NewPCG(13, 14))
	var want []testRecord
	var b Batch
	for i := 0; i < 12; i++ {
		recs := sealedRecords(rng, 100+rng.IntN(300), 2000, int64(1e9+i))
		if err := appendSealed(t, l, &b, recs, true); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	mem.Crash()
	l, _ = openLog(t, testDir, opts)
	checkRecords(t, readAll(t, l, 0, 0), want)
}

// An empty active segment that has a key header no frame was sealed under
// (a crash right after it was written) takes a new key in place, and gives
// its header up for a plain frame too large to fit after it: the log never
// rolls an empty segment onto its own name.
func TestSeal_EmptySegmentWithKeyHeaderReusedInPlace(t *testing.T) {
	for _, plainBig := range []bool{false, true} {
		mem := vfs.NewMem()
		ts := newTestSealer()
		blob, _, _ := ts.NewKey()
		if err := mem.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, _ := mem.OpenFile(segPath(testDir, 0), os.O_RDWR|os.O_CREATE, 0o600)
		writeSynced(t, f, appendKeyHeader(nil, blob), 0)
		f.Close()
		mem.SyncDir(testDir)
		mem.SyncDir("/")
		opts := Options{FS: mem, SegmentSize: 8 << 10, Sealer: ts}
		l, _ := openLog(t, testDir, opts)
		rng := mrand.New(mrand.NewPCG(15, 16))
		var recs []testRecord
		if plainBig {
			recs = []testRecord{{t: 1, key: []byte("k"), data: make([]byte, 8<<10-record.HeaderSize-8)}}
		} else {
			recs = sealedRecords(rng, 3, 100, 1e9)
		}
		var b Batch
		if err := appendSealed(t, l, &b, recs, true); err != nil {
			t.Fatalf("plainBig %v: %v", plainBig, err)
		}
		if segs := segFiles(t, mem, testDir); len(segs) != 1 {
			t.Fatalf("plainBig %v: segments %v; want the one", plainBig, segs)
		}
		mem.Crash()
		l, _ = openLog(t, testDir, opts)
		checkRecords(t, readAll(t, l, 0, 0), recs)
	}
}
