package node

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
)

// keyrings gives each node listed a key service of its own (a keyring in
// its data directory); the others run without one.
func keyrings(t *testing.T, ids ...uint64) (func(id uint64, o *engine.Options), map[uint64]*kms.Local) {
	rings := map[uint64]*kms.Local{}
	base := t.TempDir()
	for _, id := range ids {
		l, err := kms.Open(filepath.Join(base, "keys", string(rune('0'+id))), kms.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		rings[id] = l
	}
	return func(id uint64, o *engine.Options) {
		if l := rings[id]; l != nil {
			o.Keys = l
		}
	}, rings
}

// segmentsHold reports whether any segment file under dir holds b (a
// caller shows the check can see b by finding a record stored in the
// clear).
func segmentsHold(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".seg") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, b) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// Encryption started through node 1 under the managed default key makes
// every replica seal the records it writes, each under its own keyring's
// key of that alias: no node's segments hold them in the clear, and every
// node reads them back. Stopped through node 3, later records are plain
// on every node again.
func TestEncryption_StartedThroughOneNodeSealsEveryReplica(t *testing.T) {
	tune, rings := keyrings(t, 1, 2, 3)
	c := startTunedNodes(t, 3, tune)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	putN(t, c.engs[2], "s", "clear-before", 4)
	if err := retried0(func() error { return c.engs[1].SetEncryption("s", "KMS", kms.DefaultAlias) }); err != nil {
		t.Fatal(err)
	}
	// A put through node 3 at once, which may not have applied the change
	// yet: its records are sealed on every replica or on none.
	putN(t, c.engs[3], "s", "racing", 1)
	c.barrier("s", 2, 3)
	for _, id := range c.ids() {
		si, err := c.engs[id].DescribeStream("s")
		if err != nil {
			t.Fatal(err)
		}
		if si.EncryptionType != "KMS" || si.KeyID != kms.DefaultAlias {
			t.Fatalf("node %d describes encryption %q under %q; want KMS under %s", id, si.EncryptionType, si.KeyID, kms.DefaultAlias)
		}
	}
	putN(t, c.engs[3], "s", "secret-after", 10)
	got := c.waitSame("s", 15)
	secrets := 0
	for _, r := range got {
		if strings.HasSuffix(r, "=secret-after") {
			secrets++
		}
	}
	if secrets != 10 {
		t.Fatalf("the nodes read %d of the 10 encrypted records back: %v", secrets, got)
	}
	sealed := map[bool][]uint64{}
	for _, id := range c.ids() {
		plain := segmentsHold(t, c.dirs[id], []byte("racing"))
		sealed[!plain] = append(sealed[!plain], id)
	}
	if len(sealed) != 1 {
		t.Fatalf("a record put as encryption started is sealed on nodes %v and in the clear on %v", sealed[true], sealed[false])
	}
	arns := map[string]bool{}
	for _, id := range c.ids() {
		if !segmentsHold(t, c.dirs[id], []byte("clear-before")) {
			t.Fatalf("node %d's segments do not hold the records put before encryption in the clear: the check sees nothing", id)
		}
		if segmentsHold(t, c.dirs[id], []byte("secret-after")) {
			t.Fatalf("node %d's segments hold records put after encryption started in the clear", id)
		}
		m, err := rings[id].DescribeKey(kms.DefaultAlias)
		if err != nil {
			t.Fatal(err)
		}
		arns[m.ARN] = true
		if f := c.engs[id].Faults(); len(f) != 0 {
			t.Fatalf("node %d reports faults: %+v", id, f)
		}
	}
	if len(arns) != 3 {
		t.Fatalf("the managed default key is %d keys over 3 keyrings; each node makes its own", len(arns))
	}
	if err := retried0(func() error { return c.engs[3].SetEncryption("s", "NONE", "") }); err != nil {
		t.Fatal(err)
	}
	c.barrier("s", 1)
	putN(t, c.engs[1], "s", "clear-again", 3)
	c.waitSame("s", 18)
	for _, id := range c.ids() {
		if !segmentsHold(t, c.dirs[id], []byte("clear-again")) {
			t.Fatalf("node %d's segments do not hold the records put after encryption stopped in the clear", id)
		}
	}
}

// A key named for a stream's encryption is checked on the node the call
// reaches; a node whose key service lacks it (or that has none) records
// the setting all the same and fences its replicas of the stream's shards
// rather than write a record in the clear, while the nodes that hold the
// key serve the records.
func TestEncryption_NodeWithoutTheKeyFencesItsReplicas(t *testing.T) {
	tune, rings := keyrings(t, 1, 2)
	c := startTunedNodes(t, 3, tune)
	k, err := rings[1].CreateKey("node 1 only")
	if err != nil {
		t.Fatal(err)
	}
	if err := rings[1].CreateAlias("alias/only-on-1", k.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	c.barrier("s", 2, 3)
	if err := retried0(func() error { return c.engs[2].SetEncryption("s", "KMS", "alias/only-on-1") }); !errors.Is(err, &api.Error{Code: api.CodeKMSNotFound}) {
		t.Fatalf("encryption under a key node 2 lacks, through node 2: %v; want KMSNotFound", err)
	}
	if err := retried0(func() error { return c.engs[3].SetEncryption("s", "KMS", "alias/only-on-1") }); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("encryption through node 3, which has no key service: %v; want InvalidArgument", err)
	}
	if err := retried0(func() error { return c.engs[1].SetEncryption("s", "KMS", "alias/only-on-1") }); err != nil {
		t.Fatal(err)
	}
	c.barrier("s", 2, 3)
	for _, id := range c.ids() {
		si, err := c.engs[id].DescribeStream("s")
		if err != nil {
			t.Fatal(err)
		}
		if si.EncryptionType != "KMS" {
			t.Fatalf("node %d describes encryption %q; every node records the setting", id, si.EncryptionType)
		}
	}
	putN(t, c.engs[1], "s", "secret", 5)
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range []uint64{2, 3} {
		for {
			f := c.engs[id].Faults()
			if len(f) == 1 && f[0].Stream == "s" && strings.HasPrefix(f[0].Reason, "seal: ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d, which cannot use the key, reports faults %+v; want its replica fenced (seal)", id, f)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	got := records(t, c.engs[1], "s")
	for len(got) < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = records(t, c.engs[1], "s")
	}
	if len(got) != 5 {
		t.Fatalf("node 1 reads %d of the 5 records", len(got))
	}
	for _, id := range c.ids() {
		if segmentsHold(t, c.dirs[id], []byte("secret")) {
			t.Fatalf("node %d's segments hold records of the encrypted stream in the clear", id)
		}
	}
	// The key put in node 2's keyring (a key of its own under the same
	// alias) and node 2 restarted, its replica applies the records again
	// from the log, sealed.
	k2, err := rings[2].CreateKey("node 2's")
	if err != nil {
		t.Fatal(err)
	}
	if err := rings[2].CreateAlias("alias/only-on-1", k2.KeyID); err != nil {
		t.Fatal(err)
	}
	c.stop(2)
	c.start(2)
	for {
		got2 := records(t, c.engs[2], "s")
		if len(got2) == 5 {
			if !slices.Equal(got2, got) {
				t.Fatalf("node 2 reads %v; node 1 %v", got2, got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2, restarted with the key, reads %d of the 5 records", len(got2))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f := c.engs[2].Faults(); len(f) != 0 {
		t.Fatalf("node 2, restarted with the key, reports faults %+v", f)
	}
	if segmentsHold(t, c.dirs[2], []byte("secret")) {
		t.Fatal("node 2's segments hold the records in the clear")
	}
}

// The records of an encrypted stream admitted through one node are billed
// to the shard's write quota on the others, as a plain stream's are.
func TestEncryption_QuotaHoldsAcrossNodes(t *testing.T) {
	clock := newTestClock()
	keys, _ := keyrings(t, 1, 2, 3)
	c := startTunedNodes(t, 3, func(id uint64, o *engine.Options) {
		keys(id, o)
		o.Now = clock.Now
	})
	const limit = 50
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "q", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.Limits{WriteRecordsPerSec: limit, WriteBytesPerSec: 1 << 20}
	if err := retried0(func() error { return c.engs[1].SetQuotas("q", &lim) }); err != nil {
		t.Fatal(err)
	}
	if err := retried0(func() error { return c.engs[1].SetEncryption("q", "KMS", kms.DefaultAlias) }); err != nil {
		t.Fatal(err)
	}
	c.barrier("q", 1, 2, 3)
	putN(t, c.engs[1], "q", "via1", limit)
	c.waitSame("q", limit)
	for _, id := range []uint64{2, 3} {
		_, err := c.engs[id].PutRecord("q", api.PutRecord{Key: []byte("k"), Data: []byte("x")}, "")
		if !errors.Is(err, &api.Error{Code: api.CodeThroughputExceeded}) {
			t.Fatalf("node %d: a put after the encrypted shard's burst was spent through node 1 returned %v; want ProvisionedThroughputExceeded", id, err)
		}
	}
}
