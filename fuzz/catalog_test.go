package fuzz

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

const dataDir = "/data"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func memOptions(fs vfs.FS) engine.Options {
	q := ratelimit.Unlimited
	return engine.Options{Dir: dataDir, FS: fs, Quotas: &q, SegmentSize: 1 << 20, Logger: quiet()}
}

// validCatalog returns the catalog bytes of a data directory holding two
// streams, one of them resharded and tagged.
func validCatalog(tb testing.TB) []byte {
	mem := vfs.NewMem()
	e, err := engine.Open(memOptions(mem))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "orders", ShardCount: 2, Tags: map[string]string{"team": "data"}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "clicks", ShardCount: 1}); err != nil {
		tb.Fatal(err)
	}
	if err := e.SplitShard("orders", api.ShardID(0), api.HashKey{Hi: 1 << 62}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.RegisterConsumer("orders", "app", nil); err != nil {
		tb.Fatal(err)
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
	f, err := mem.OpenFile(filepath.Join(dataDir, "catalog.json"), os.O_RDONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	n, _ := f.Size()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		tb.Fatal(err)
	}
	return b
}

// FuzzOpenCatalog opens an engine whose catalog file holds arbitrary bytes.
// With wrap set, the bytes are the document and the test seals them with a
// correct checksum, so that the fuzzer explores what lies behind it.
// Property: Open either refuses with an error or opens a consistent engine
// (every listed stream describes, its open shards cover the hash key space
// and accept a put and a read back), and nothing panics.
func FuzzOpenCatalog(f *testing.F) {
	good := validCatalog(f)
	f.Add(false, good)
	f.Add(false, []byte{})
	f.Add(false, []byte(`{"crc":0,"doc":{}}`))
	f.Add(false, good[:len(good)/2])
	var env struct {
		Doc json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(good, &env); err != nil {
		f.Fatal(err)
	}
	f.Add(true, []byte(env.Doc))
	f.Add(true, []byte(`{"version":1,"last_incarnation":5,"streams":[{"name":"s","incarnation":5,"status":"ACTIVE","mode":"PROVISIONED","retention_hours":24,"max_record_size":1048576,"next_shard":1000000,"shards":[{"index":0,"parent":-1,"adjacent_parent":-1,"start":"0","end":"340282366920938463463374607431768211455"}]}]}`))
	f.Fuzz(func(t *testing.T, wrap bool, b []byte) {
		if wrap {
			b = seal(b)
		}
		mem := vfs.NewMem()
		if err := mem.MkdirAll(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cf, err := mem.OpenFile(filepath.Join(dataDir, "catalog.json"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cf.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		cf.Sync()
		cf.Close()
		mem.SyncDir(dataDir)
		e, err := engine.Open(memOptions(mem))
		if err != nil {
			return // refused: fine, as long as it did not panic
		}
		defer e.Close()
		for _, name := range e.ListStreams() {
			si, err := e.DescribeStream(name)
			if err != nil {
				t.Fatalf("listed stream %q does not describe: %v", name, err)
			}
			if si.OpenShardCount() == 0 {
				t.Fatalf("stream %q opened with no open shard", name)
			}
			r, err := e.PutRecord(name, api.PutRecord{Key: []byte("k"), Data: []byte("v")}, "")
			if err != nil {
				t.Fatalf("put into opened stream %q: %v", name, err)
			}
			pos, err := e.GetIterator(name, r.ShardID, api.IteratorSpec{Type: api.AtSequenceNumber, Seq: r.Seq.String()})
			if err != nil {
				t.Fatalf("iterator at an acknowledged record of %q: %v", name, err)
			}
			var res engine.ReadResult
			if err := e.Read(pos, 1, 0, engine.ReadSubscription, &res); err != nil || res.Records != 1 {
				t.Fatalf("read back from %q: %d records, %v", name, res.Records, err)
			}
			res.Release()
		}
	})
}

// seal wraps a catalog document in its checksummed envelope.
func seal(doc []byte) []byte {
	b, _ := json.Marshal(struct {
		CRC uint32          `json:"crc"`
		Doc json.RawMessage `json:"doc"`
	}{checksum.Mask(checksum.Value(doc)), doc})
	if b == nil {
		return doc // not JSON: leave it for the parser to refuse
	}
	return b
}
