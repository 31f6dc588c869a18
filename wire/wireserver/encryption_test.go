package wireserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/record"
)

// encryptedEnv is a server whose engine has a key service, with a
// one-shard stream s encrypted under the default key if enc is "kms".
func encryptedEnv(t testing.TB, enc string, d api.Durability) (*testEnv, *client.Client) {
	t.Helper()
	keys, err := kms.Open(t.TempDir(), kms.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	env := startEnv(t, func(eo *engine.Options, _ *ServerOptions) { eo.Keys, eo.Durability = keys, d }, nil)
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	if enc == "kms" {
		if err := env.eng.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
			t.Fatal(err)
		}
	}
	return env, c
}

// Encrypted records reach a binary-protocol reader decrypted, as frames
// whose CRCs the client verifies, flagged as stored encrypted; a record put
// before encryption is not flagged.
func TestRead_EncryptedRecordsArriveInTheClearFlagged(t *testing.T) {
	env, c := encryptedEnv(t, "none", api.Always)
	ctx := context.Background()
	if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("before"), Data: []byte("plain")}); err != nil {
		t.Fatal(err)
	}
	if err := env.eng.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte(fmt.Sprint("key-", i)), Data: []byte(fmt.Sprint("secret-", i))}); err != nil {
			t.Fatal(err)
		}
	}
	start, err := c.GetIterator(ctx, "s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var got []client.Record
	for pos := start; ; {
		res, err := c.Read(ctx, pos, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			break
		}
		got = append(got, res.Records...)
		pos = res.Next
	}
	if len(got) != 21 || string(got[0].Data) != "plain" || got[0].Flags&record.FlagEncrypted != 0 {
		t.Fatalf("read %d records; the first %q flags %#x", len(got), got[0].Data, got[0].Flags)
	}
	for i, r := range got[1:] {
		if string(r.Data) != fmt.Sprint("secret-", i) || string(r.Key) != fmt.Sprint("key-", i) || r.Flags&record.FlagEncrypted == 0 {
			t.Fatalf("encrypted record %d reads as %q / %q, flags %#x", i, r.Key, r.Data, r.Flags)
		}
	}
	sub, err := c.Subscribe(ctx, start, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	n := 0
	for n < 21 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ev.Records {
			if n > 0 && string(r.Data) != fmt.Sprint("secret-", n-1) {
				t.Fatalf("subscribed record %d is %q", n, r.Data)
			}
			n++
		}
		ev.Release()
	}
}

// BenchmarkTailReadEncryption is BenchmarkTailRead (reads of 1 KiB records
// through the server, the client verifying every CRC) on a plaintext stream
// (frames sent straight from the mapping) and an encrypted one (frames
// opened on the server into pooled buffers): the goal is at least 1 GB/s
// encrypted.
func BenchmarkTailReadEncryption(b *testing.B) {
	const size, total = 1 << 10, 64 << 20
	for _, enc := range []string{"none", "kms"} {
		b.Run("read/size=1KiB/max=4MiB/inflight=2/enc="+enc, func(b *testing.B) {
			_, c := encryptedEnv(b, enc, api.None)
			recs := make([]api.PutRecord, 500)
			data := make([]byte, size)
			for i := range recs {
				recs[i] = api.PutRecord{Key: []byte("k"), Data: data}
			}
			results := make([]api.PutResult, len(recs))
			for put := 0; put < total; put += len(recs) * size {
				if failed, err := c.PutRecords(context.Background(), "s", recs, results); err != nil || failed > 0 {
					b.Fatalf("fill: %d failed, %v", failed, err)
				}
			}
			start, err := c.GetIterator(context.Background(), "s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
			if err != nil {
				b.Fatal(err)
			}
			const readers = 2
			var payload atomic.Int64
			pos := []api.Position{start, start}
			res := make([]client.ReadResult, readers)
			b.ReportAllocs()
			_, el := runWorkers(b, readers, func(w int) error {
				if err := c.ReadInto(context.Background(), pos[w], 0, 4<<20, &res[w]); err != nil {
					return err
				}
				payload.Add(int64(res[w].Bytes))
				pos[w] = res[w].Next
				if len(res[w].Records) == 0 {
					pos[w] = start
				}
				return nil
			})
			b.ReportMetric(float64(payload.Load())/el.Seconds()/1e9, "GB/s")
		})
	}
}
