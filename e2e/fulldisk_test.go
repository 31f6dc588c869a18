package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

// TestEndToEnd_FullTmpfs runs sluiced on a real tmpfs that fills up under
// durable puts from the Go client: puts are then refused with a retryable
// error and the server stays up, puts succeed again once space is freed,
// and after kill -9 and a restart every acknowledged record reads back,
// the commit log having put back what the segments had not synced.
func TestEndToEnd_FullTmpfs(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=24m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, 12<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := build(t)
	dataDir := filepath.Join(root, "data")
	srv := startServer(t, bin, dataDir, "--quotas", "unlimited", "--segment-size", "16777216")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, srv.wireAddr, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateStream(ctx, api.CreateStreamInput{Name: "s", ShardCount: 4}); err != nil {
		t.Fatal(err)
	}

	acked := map[api.SeqNum]string{}
	recs := make([]api.PutRecord, 20)
	res := make([]api.PutResult, 20)
	// put sends one batch and returns how many of its records were refused,
	// failing the test on any refusal that is not retryable.
	put := func(i int) int {
		for k := range recs {
			recs[k] = api.PutRecord{Key: []byte(fmt.Sprint(i, "-", k)), Data: []byte(fmt.Sprintf("%d/%d/%s", i, k, strings.Repeat("d", 2000)))}
		}
		failed, err := cl.PutRecords(ctx, "s", recs, res)
		if err != nil {
			var we *wire.Error
			if errors.As(err, &we) && we.Code == api.CodeInternal {
				return len(recs) // the whole put refused for want of space
			}
			t.Fatalf("put %d: %v", i, err)
		}
		for k := range res {
			if res[k].Err == nil {
				acked[res[k].Seq] = string(recs[k].Data)
				continue
			}
			var we *wire.Error
			if !errors.As(res[k].Err, &we) || we.Code != api.CodeInternal || !strings.Contains(we.Error(), "retry") {
				t.Fatalf("put %d record %d on a full disk: %v; want a retryable internal failure", i, k, res[k].Err)
			}
		}
		return failed
	}
	i := 0
	for ; put(i) == 0; i++ {
		if i > 5000 {
			t.Fatal("the tmpfs never filled")
		}
	}
	t.Logf("the tmpfs filled after %d puts (%d records acknowledged)", i, len(acked))
	// Still full: still refused, and the server still answers.
	if n := put(i + 1); n == 0 {
		t.Fatal("a put succeeded on a full tmpfs")
	}
	if _, err := cl.DescribeStream(ctx, "s"); err != nil {
		t.Fatalf("describe on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for j := range 30 {
		if n := put(i + 2 + j); n != 0 {
			t.Fatalf("put %d after space was freed: %d records refused", j, n)
		}
	}
	cl.Close()
	srv.stop(t, syscall.SIGKILL)

	srv = startServer(t, bin, dataDir, "--quotas", "unlimited", "--segment-size", "16777216")
	got := map[api.SeqNum]string{}
	for _, r := range getAll(t, bin, srv, "s") {
		got[r.seq] = string(r.data)
	}
	for seq, data := range acked {
		if got[seq] != data {
			t.Fatalf("acknowledged record %v lost or changed after kill -9 (%d of %d read back)", seq, len(got), len(acked))
		}
	}
}
