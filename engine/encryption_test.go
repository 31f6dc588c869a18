package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/segment"
)

// openKeys opens (creating) the keyring dir/kms with a cheap passphrase KDF.
func openKeys(t testing.TB, dir string) *kms.Local {
	t.Helper()
	k, err := kms.Open(filepath.Join(dir, "kms"), kms.Options{Create: true, Passphrase: "test passphrase", KDFIterations: 10})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openEncrypted opens an engine on dir with the keyring dir/kms.
func openEncrypted(t testing.TB, dir string, mod func(*Options)) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q, Keys: openKeys(t, dir), Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openEncryptedTest is openEncrypted through openEngine: in cluster mode,
// a replica of a three-node cluster, each node with the keyring dir/kms.
func openEncryptedTest(t testing.TB, dir string, mod func(*Options)) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q, Keys: openKeys(t, dir), Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	return openEngine(t, opts)
}

func wantKMS(t testing.TB, err error, c api.Code, what string) {
	t.Helper()
	if err == nil || api.CodeOf(err) != c {
		t.Fatalf("%s: error %v; want %v", what, err, c)
	}
}

// filesHolding lists every file under dir whose bytes contain marker.
func filesHolding(t testing.TB, dir string, marker []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestEncryption_MarkerNowhereOnDiskAndReadsIntact(t *testing.T) {
	requireSingleNode(t, "a cluster keeps records in the clear in its Raft log (DATA_DIR/raft): encryption at rest does not cover it yet")
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, nil)
	mustCreate(t, e, "s", 2)
	before := put(t, e, "s", "plain-key", "plain-data")
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	marker := "SECRET-MARKER-7f3a"
	var acked []api.PutResult
	for i := 0; i < 50; i++ {
		acked = append(acked, put(t, e, "s", marker+"-key-"+string(rune('a'+i%26)), strings.Repeat(marker, 1+i%5)))
	}
	check := func(e *Engine, when string) {
		t.Helper()
		n := 0
		for sh := 0; sh < 2; sh++ {
			for _, r := range readShard(t, e, "s", sh) {
				if string(r.Key) == "k" {
					continue // put after StopStreamEncryption, checked below
				}
				if r.Seq == before.Seq {
					if r.Encrypted() || r.EncryptionType() != "NONE" || string(r.Data) != "plain-data" {
						t.Fatalf("%s: the record put before encryption reads as %+v", when, r)
					}
					continue
				}
				n++
				if !r.Encrypted() || r.EncryptionType() != "KMS" || !strings.HasPrefix(string(r.Key), marker) || !strings.HasPrefix(string(r.Data), marker) {
					t.Fatalf("%s: encrypted record reads as key %q data %.40q encrypted %v", when, r.Key, r.Data, r.Encrypted())
				}
			}
		}
		if n != len(acked) {
			t.Fatalf("%s: read %d encrypted records of %d", when, n, len(acked))
		}
	}
	check(e, "before restart")
	// The frames handed to the doors carry the records in the clear with
	// valid CRCs.
	pos := api.Position{Stream: "s", Incarnation: acked[0].Seq.Incarnation, Shard: int(acked[0].Seq.Shard), Seq: acked[0].Seq.Seq}
	var res ReadResult
	if err := e.Read(pos, 100, 0, ReadSubscription, &res); err != nil {
		t.Fatal(err)
	}
	it := record.NewFrameIter(res.Frames())
	k := 0
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		k++
	}
	if it.Err() != nil || k != res.Records || !bytes.Contains(res.Frames(), []byte(marker)) {
		t.Fatalf("Frames: %d of %d frames decode (%v)", k, res.Records, it.Err())
	}
	res.Release()
	if err := closeEngine(e); err != nil {
		t.Fatal(err)
	}
	if hits := filesHolding(t, dir, []byte(marker)); len(hits) > 0 {
		t.Fatalf("the marker is stored in the clear in %v", hits)
	}
	if hits := filesHolding(t, dir, []byte("plain-data")); len(hits) == 0 {
		t.Fatal("the record put before encryption is not where the scan looks: the scan proves nothing")
	}
	e = openEncryptedTest(t, dir, nil)
	defer closeEngine(e)
	check(e, "after restart")
	// StopStreamEncryption: later records are stored in the clear again.
	if err := e.SetEncryption("s", "NONE", ""); err != nil {
		t.Fatal(err)
	}
	after := put(t, e, "s", "k", "CLEAR-AGAIN-marker")
	recs := readShard(t, e, "s", int(after.Seq.Shard))
	if last := recs[len(recs)-1]; last.Encrypted() || string(last.Data) != "CLEAR-AGAIN-marker" {
		t.Fatalf("a record put after StopStreamEncryption reads as %+v", last)
	}
	check(e, "after stop")
}

func TestEncryption_KeyNamedAnyWayAndErrors(t *testing.T) {
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, nil)
	defer closeEngine(e)
	mustCreate(t, e, "s", 1)
	keys := e.Keys()
	m, err := keys.CreateKey("orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.CreateAlias("alias/orders", m.KeyID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{m.KeyID, m.ARN, "alias/orders", "arn:aws:kms:us-east-1:000000000000:alias/orders"} {
		if err := e.SetEncryption("s", "KMS", id); err != nil {
			t.Fatalf("SetEncryption(%s): %v", id, err)
		}
		put(t, e, "s", "k", "v")
	}
	if arn, err := e.StreamKeyARN("s"); err != nil || arn != m.ARN {
		t.Fatalf("StreamKeyARN = %q, %v; want %s", arn, err, m.ARN)
	}
	wantKMS(t, e.SetEncryption("s", "KMS", "alias/none"), api.CodeKMSNotFound, "unknown alias")
	wantKMS(t, e.SetEncryption("s", "KMS", "1b4e28ba-2fa1-41d2-883f-0016d3cca427"), api.CodeKMSNotFound, "unknown key id")
	if err := keys.DisableKey(m.KeyID); err != nil {
		t.Fatal(err)
	}
	// Puts and reads under a disabled key fail with KMSDisabledException.
	_, err = e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v")}, "")
	wantKMS(t, err, api.CodeKMSDisabled, "put under a disabled key")
	pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	var res ReadResult
	wantKMS(t, e.Read(pos, 10, 0, ReadPolling, &res), api.CodeKMSDisabled, "read under a disabled key")
	wantKMS(t, e.SetEncryption("s", "KMS", m.KeyID), api.CodeKMSDisabled, "StartStreamEncryption with a disabled key")
	if err := keys.EnableKey(m.KeyID); err != nil {
		t.Fatal(err)
	}
	if recs := readShard(t, e, "s", 0); len(recs) != 4 {
		t.Fatalf("%d records after enabling the key again; want 4", len(recs))
	}
	put(t, e, "s", "k", "v")

	// Without a key service, encryption is refused plainly.
	plain := openTest(t, nil)
	mustCreate(t, plain, "s", 1)
	if arn, err := plain.StreamKeyARN("s"); err != nil || arn != "" {
		t.Fatalf("StreamKeyARN of a plaintext stream = %q, %v", arn, err)
	}
	err = plain.SetEncryption("s", "KMS", kms.DefaultAlias)
	if err == nil || api.CodeOf(err) != api.CodeInvalidArgument || !strings.Contains(err.Error(), "--kms-keys") {
		t.Fatalf("SetEncryption without a key service: %v", err)
	}
}

func TestEncryption_MissingKeyringKeyIsKMSNotFound(t *testing.T) {
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, nil)
	mustCreate(t, e, "s", 1)
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	put(t, e, "s", "k", "v")
	closeEngine(e)
	// The data opened with another keyring: the key is not in it.
	other := t.TempDir()
	q := ratelimit.Unlimited
	e2, err := Open(Options{Dir: dir, Quotas: &q, Keys: openKeys(t, other), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	pos, _ := e2.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	var res ReadResult
	wantKMS(t, e2.Read(pos, 10, 0, ReadPolling, &res), api.CodeKMSNotFound, "read with the key missing")
	// Without any key service the records cannot be read either.
	e2.Close()
	e3, err := Open(Options{Dir: dir, Quotas: &q, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	pos, _ = e3.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err := e3.Read(pos, 10, 0, ReadPolling, &res); err == nil || !strings.Contains(err.Error(), "key service") {
		t.Fatalf("read of encrypted records without a key service: %v", err)
	}
}

// storedFrames returns the path of shard i's first segment and the offsets
// of its frames (after its key header).
func storedFrames(t *testing.T, e *Engine, stream string, i int) (string, []int) {
	t.Helper()
	st, err := e.lookup(stream)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.shardDir(st.inc, i), "00000000000000000000.seg")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for off := segment.KeyHeaderSize; ; {
		n := record.FrameLen(b[off:])
		if n == 0 {
			break
		}
		offs = append(offs, off)
		off += n
	}
	return path, offs
}

// alterFrame flips a ciphertext byte of the frame at off; with fixCRC it
// also recomputes the frame's CRC, as a deliberate forger would.
func alterFrame(t *testing.T, path string, off int, fixCRC bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := record.FrameLen(b[off:])
	b[off+record.HeaderSize+2] ^= 0x01
	if fixCRC {
		binary.LittleEndian.PutUint32(b[off:], checksum.Mask(checksum.Value(b[off+record.LengthOffset:off+n])))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEncryption_TamperedRecordIsCorruptAlone(t *testing.T) {
	for _, fixCRC := range []bool{false, true} {
		dir := t.TempDir()
		e := openEncryptedTest(t, dir, nil)
		mustCreate(t, e, "s", 1)
		if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			put(t, e, "s", "k", strings.Repeat("data", 10+i))
		}
		path, offs := storedFrames(t, e, "s", 0)
		if err := closeEngine(e); err != nil { // clean: the next open trusts the checkpoint and does not scan
			t.Fatal(err)
		}
		alterFrame(t, path, offs[2], fixCRC)
		e = openEncryptedTest(t, dir, nil)
		pos, _ := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
		var res ReadResult
		if err := e.Read(pos, 100, 0, ReadPolling, &res); err != nil || res.Records != 2 || res.Next.Seq != 2 {
			t.Fatalf("fixCRC %v: read from the start: %d records, next %d, %v; want the 2 before the altered one", fixCRC, res.Records, res.Next.Seq, err)
		}
		res.Release()
		pos.Seq = 2
		err := e.Read(pos, 100, 0, ReadPolling, &res)
		if !errors.Is(err, record.ErrCorrupt) || !strings.Contains(err.Error(), "record 2 ") {
			t.Fatalf("fixCRC %v: read of the altered record: %v; want a corruption error naming record 2", fixCRC, err)
		}
		pos.Seq = 3
		if err := e.Read(pos, 100, 0, ReadPolling, &res); err != nil || res.Records != 2 {
			t.Fatalf("fixCRC %v: read after the altered record: %d records, %v; want 2", fixCRC, res.Records, err)
		}
		res.Release()
		closeEngine(e)
	}
}

func TestEncryption_FrameCopiedToAnotherShardDoesNotOpen(t *testing.T) {
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, nil)
	mustCreate(t, e, "s", 2)
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	ranges := api.EvenRanges(2)
	for sh := 0; sh < 2; sh++ {
		for i := 0; i < 3; i++ {
			if _, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("secret"), ExplicitHash: ranges[sh][0], HasExplicitHash: true}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	p0, _ := storedFrames(t, e, "s", 0)
	p1, _ := storedFrames(t, e, "s", 1)
	closeEngine(e)
	// Shard 1's segment replaced by shard 0's, key header and all: the
	// frames are intact and sequence numbers fit, but they were sealed for
	// shard 0.
	b, _ := os.ReadFile(p0)
	os.WriteFile(p1, b, 0o600)
	os.Remove(strings.TrimSuffix(p1, ".seg") + ".idx")
	e = openEncryptedTest(t, dir, nil)
	defer closeEngine(e)
	if recs := readShard(t, e, "s", 0); len(recs) != 3 {
		t.Fatalf("shard 0 reads %d records; want 3", len(recs))
	}
	pos, _ := e.GetIterator("s", api.ShardID(1), api.IteratorSpec{Type: api.TrimHorizon})
	var res ReadResult
	if err := e.Read(pos, 100, 0, ReadPolling, &res); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("reading shard 0's frames as shard 1's: %d records, %v; want a corruption error", res.Records, err)
	}
}

func TestEncryption_RotateThenRewrapKeepsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, func(o *Options) { o.SegmentSize = 64 << 10 })
	defer closeEngine(e)
	mustCreate(t, e, "s", 1)
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", 4000)
	putMany := func(n int) {
		recs := make([]api.PutRecord, n)
		res := make([]api.PutResult, n)
		for i := range recs {
			recs[i] = api.PutRecord{Key: []byte("k"), Data: []byte(data)}
		}
		if failed, err := e.PutRecords("s", recs, res); err != nil || failed > 0 {
			t.Fatalf("put: %d failed, %v", failed, err)
		}
	}
	for i := 0; i < 4; i++ {
		putMany(20) // 80 KiB a round: rolls segments
	}
	if _, err := e.Keys().RotateKey(kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		putMany(20)
	}
	if n := len(readShard(t, e, "s", 0)); n != 160 {
		t.Fatalf("%d records after rotation; want 160", n)
	}
	if v := wrapVersions(t, e, "s"); v[1] == 0 || v[2] == 0 {
		t.Fatalf("segments by master key version after rotation: %v; want some under each", v)
	}
	rep, err := e.Rewrap("")
	if err != nil || rep.Segments == 0 || rep.Shards != 1 {
		t.Fatalf("Rewrap = %+v, %v; want some segments rewrapped", rep, err)
	}
	if rep2, err := e.Rewrap("s"); err != nil || rep2.Segments != 0 {
		t.Fatalf("a second Rewrap = %+v, %v; want nothing left to do", rep2, err)
	}
	recs := readShard(t, e, "s", 0)
	if len(recs) != 160 || string(recs[0].Data) != data || string(recs[159].Data) != data {
		t.Fatalf("%d records after rewrap", len(recs))
	}
	if v := wrapVersions(t, e, "s"); v[1] != 0 || v[2] == 0 {
		t.Fatalf("segments by master key version after rewrap: %v; want all under version 2", v)
	}
	if _, err := e.Rewrap("nope"); !errors.Is(err, api.ErrStreamNotFound) {
		t.Fatalf("Rewrap of an unknown stream: %v", err)
	}
}

// TestEncryption_PowerCutLosesNothing puts into an encrypted stream from
// several producers (rolling segments, rotating the key between rounds)
// and cuts the power at a random moment, tearing what was not synced, data
// and keyring alike on one crashable file system. After each restart every
// record acknowledged before the cut reads back intact and encrypted, and
// nothing else is returned.
func TestEncryption_PowerCutLosesNothing(t *testing.T) {
	requireSingleNode(t, "a power cut of the single node's in-memory file system")
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(5, 6))
	q := ratelimit.Unlimited
	open := func() *Engine {
		t.Helper()
		keys, err := kms.Open("/data/kms", kms.Options{FS: mem, Create: true, Passphrase: "pc", KDFIterations: 10})
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(Options{Dir: "/data", FS: mem, Quotas: &q, SegmentSize: 64 << 10, Durability: api.Always,
			Keys: keys, Logger: quietLogger(), ShardIdleTimeout: time.Hour, RetentionInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	mustCreate(t, e, "s", 2)
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	type acked struct {
		res  api.PutResult
		data string
	}
	var all []acked
	for round := 0; round < 4; round++ {
		var mu sync.Mutex // guards got
		var got []acked
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < 3; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					data := fmt.Sprintf("r%d/p%d/i%d/%s", round, p, i, strings.Repeat("z", i%700))
					r, err := e.PutRecord("s", api.PutRecord{Key: []byte(fmt.Sprint(p, i)), Data: []byte(data)}, "")
					if err != nil {
						return // the old process after the cut
					}
					mu.Lock()
					got = append(got, acked{r, data})
					mu.Unlock()
				}
			}(p)
		}
		// Cut the power once enough records are in.
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= 100+rng.IntN(200) {
				break
			}
			runtime.Gosched()
		}
		mu.Lock()
		before := append([]acked(nil), got...)
		mem.CrashTorn(rng)
		mu.Unlock()
		close(stop)
		wg.Wait()
		all = append(all, before...)

		e = open()
		stored := map[api.SeqNum]Record{}
		for sh := 0; sh < 2; sh++ {
			for _, r := range readShard(t, e, "s", sh) {
				if !r.Encrypted() || !strings.HasPrefix(string(r.Data), "r") {
					t.Fatalf("round %d: a record read back is %q, encrypted %v", round, r.Data, r.Encrypted())
				}
				stored[r.Seq] = r
			}
		}
		for _, a := range all {
			r, ok := stored[a.res.Seq]
			if !ok || string(r.Data) != a.data {
				t.Fatalf("round %d: acknowledged record %v (%.20q) lost or changed: %v %.20q", round, a.res.Seq, a.data, ok, r.Data)
			}
		}
		if _, err := e.Keys().RotateKey(kms.DefaultAlias); err != nil {
			t.Fatal(err)
		}
	}
	closeEngine(e)
}

func TestNeedsKeys_FollowsStreamsEverEncrypted(t *testing.T) {
	dir := t.TempDir()
	if need, err := NeedsKeys(nil, dir); err != nil || need {
		t.Fatalf("a new directory: NeedsKeys = %v, %v", need, err)
	}
	e := openEncryptedTest(t, dir, nil)
	mustCreate(t, e, "s", 1)
	closeEngine(e)
	if need, err := NeedsKeys(nil, dir); err != nil || need {
		t.Fatalf("no stream encrypted: NeedsKeys = %v, %v", need, err)
	}
	e = openEncryptedTest(t, dir, nil)
	if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	if err := e.SetEncryption("s", "NONE", ""); err != nil {
		t.Fatal(err)
	}
	closeEngine(e)
	if need, err := NeedsKeys(nil, dir); err != nil || !need {
		t.Fatalf("a stream encrypted once: NeedsKeys = %v, %v; want true (it may hold encrypted records)", need, err)
	}
}

// wrapVersions counts the segments of shard 0 of stream by the master key
// version their current wrapped data key is under (read from the key
// headers as stored: the slot with the higher generation).
func wrapVersions(t *testing.T, e *Engine, stream string) map[int]int {
	t.Helper()
	st, err := e.lookup(stream)
	if err != nil {
		t.Fatal(err)
	}
	dir := e.shardDir(st.inc, 0)
	names, _ := os.ReadDir(dir)
	out := map[int]int{}
	for _, n := range names {
		if !strings.HasSuffix(n.Name(), ".seg") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, n.Name()))
		if len(b) < segment.KeyHeaderSize || string(b[:4]) != "SLKH" {
			continue
		}
		best, ver := uint32(0), 0
		for _, off := range []int{16, 16 + 248} {
			gen := binary.LittleEndian.Uint32(b[off:])
			if n := binary.LittleEndian.Uint16(b[off+4:]); gen > best && n == kms.BlobSize {
				best, ver = gen, int(binary.LittleEndian.Uint32(b[off+8+17:]))
			}
		}
		out[ver]++
	}
	return out
}

// TestEncryption_RecoveredCatalogKeepsEncrypting: a stream that was
// encrypting when its catalog was lost comes back from --recover-catalog
// encrypting under the key that sealed its newest segment, so the records
// put afterwards are sealed too; a stream written in the clear comes back
// in the clear.
func TestEncryption_RecoveredCatalogKeepsEncrypting(t *testing.T) {
	requireSingleNode(t, "damage to and recovery of the single node's catalog file")
	dir := t.TempDir()
	e := openEncryptedTest(t, dir, nil)
	mustCreate(t, e, "sealed", 2)
	mustCreate(t, e, "plain", 1)
	if err := e.SetEncryption("sealed", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		put(t, e, "sealed", fmt.Sprintf("k%d", i), "before-the-loss")
	}
	put(t, e, "plain", "k", "in-the-clear")
	keyARN, err := e.StreamKeyARN("sealed")
	if err != nil || keyARN == "" {
		t.Fatalf("StreamKeyARN: %q %v", keyARN, err)
	}
	if err := closeEngine(e); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, catalogName)); err != nil {
		t.Fatal(err)
	}

	e = openEncryptedTest(t, dir, func(o *Options) { o.RecoverCatalog = true })
	defer closeEngine(e)
	si, err := e.DescribeStream("sealed")
	if err != nil {
		t.Fatal(err)
	}
	if si.EncryptionType != "KMS" {
		t.Fatalf("recovered stream's encryption %q; want KMS", si.EncryptionType)
	}
	if got, err := e.StreamKeyARN("sealed"); err != nil || got != keyARN {
		t.Fatalf("recovered stream's key %q (%v); want %q", got, err, keyARN)
	}
	if si, err := e.DescribeStream("plain"); err != nil || si.EncryptionType != "NONE" {
		t.Fatalf("plain stream recovered as %+v %v; want NONE", si, err)
	}
	marker := "AFTER-RECOVERY-MARKER-91c2"
	put(t, e, "sealed", marker, marker)
	if hits := filesHolding(t, dir, []byte(marker)); len(hits) != 0 {
		t.Fatalf("a record put after the catalog was recovered is in the clear in %v", hits)
	}
}
