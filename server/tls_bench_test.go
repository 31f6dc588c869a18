package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/testcert"
)

// benchDoors starts a plaintext server and a TLS one and returns their
// binary protocol addresses and the TLS client configuration.
func benchDoors(b *testing.B) (plain, secure string, cfg *tls.Config) {
	b.Helper()
	ca := testcert.NewCA(b, "sluice-bench")
	p := ca.Server("server")
	plain = startWith(b, Config{}).WireAddr().String()
	secure = startWith(b, Config{TLSCert: p.CertFile, TLSKey: p.KeyFile}).WireAddr().String()
	return plain, secure, ca.ClientConfig(nil)
}

// BenchmarkWireTLS compares the binary protocol over TLS with plaintext:
// durable PutRecords of 500 records of 100 B from 4 connections; reads of a
// shard of 100 B records from TRIM_HORIZON, 4 MiB a read, one after the
// other; and a subscription over the same shard (4 MiB of credit), where
// the server's sending overlaps the client's decoding. Run it a few times
// with -count 1 and compare plain and tls of the same run.
func BenchmarkWireTLS(b *testing.B) {
	plain, secure, cfg := benchDoors(b)
	for _, door := range []struct {
		name string
		addr string
		tls  *tls.Config
	}{{"plain", plain, nil}, {"tls", secure, cfg}} {
		b.Run("put/"+door.name, func(b *testing.B) { benchPuts(b, door.addr, door.tls) })
		b.Run("read/"+door.name, func(b *testing.B) { benchReads(b, door.addr, door.tls) })
		b.Run("subscribe/"+door.name, func(b *testing.B) { benchSubscribe(b, door.addr, door.tls) })
	}
}

func dialBench(b *testing.B, addr string, cfg *tls.Config) *client.Client {
	b.Helper()
	c, err := client.Dial(context.Background(), addr, client.ClientOptions{TLS: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

var benchStreams sync.Map // addr/kind -> stream name made once per server

func benchStream(b *testing.B, c *client.Client, addr, kind string, dur api.Durability) (string, bool) {
	name := "bench-" + kind
	if _, loaded := benchStreams.LoadOrStore(addr+"/"+kind, name); loaded {
		return name, false
	}
	if _, err := c.CreateStream(context.Background(), api.CreateStreamInput{Name: name, ShardCount: 1, Durability: dur}); err != nil {
		b.Fatal(err)
	}
	return name, true
}

func benchPuts(b *testing.B, addr string, cfg *tls.Config) {
	const producers, batch, size = 4, 500, 100
	conns := make([]*client.Client, producers)
	for i := range conns {
		conns[i] = dialBench(b, addr, cfg)
	}
	stream, _ := benchStream(b, conns[0], addr, "put", api.Always)
	recs := make([]api.PutRecord, batch)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte(fmt.Sprintf("key-%d", i)), Data: make([]byte, size)}
	}
	ctx := context.Background()
	b.SetBytes(batch * size)
	b.ResetTimer()
	var wg sync.WaitGroup
	var next sync.Mutex
	n := b.N
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results := make([]api.PutResult, batch)
			for {
				next.Lock()
				if n == 0 {
					next.Unlock()
					return
				}
				n--
				next.Unlock()
				if failed, err := c.PutRecords(ctx, stream, recs, results); err != nil || failed != 0 {
					b.Errorf("PutRecords: %d failed, %v", failed, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// benchReadRecords and benchReadSize shape the shard the read benchmarks
// read: 20 MB of 100 B records.
const benchReadRecords, benchReadSize = 200000, 100

// readStream returns the prefilled stream of the read benchmarks.
func readStream(b *testing.B, c *client.Client, addr string) string {
	const records, size = benchReadRecords, benchReadSize
	ctx := context.Background()
	stream, made := benchStream(b, c, addr, "read", api.None)
	if made {
		recs := make([]api.PutRecord, 500)
		for i := range recs {
			recs[i] = api.PutRecord{Key: []byte("k"), Data: make([]byte, size)}
		}
		for range records / len(recs) {
			if _, err := c.PutRecords(ctx, stream, recs, make([]api.PutResult, len(recs))); err != nil {
				b.Fatal(err)
			}
		}
	}
	return stream
}

func benchReads(b *testing.B, addr string, cfg *tls.Config) {
	const records, size = benchReadRecords, benchReadSize
	c := dialBench(b, addr, cfg)
	ctx := context.Background()
	stream := readStream(b, c, addr)
	start, err := c.GetIterator(ctx, stream, "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(records * size)
	b.ResetTimer()
	var res client.ReadResult
	for range b.N {
		pos, got := start, 0
		for got < records {
			if err := c.ReadInto(ctx, pos, 10000, 4<<20, &res); err != nil {
				b.Fatal(err)
			}
			got += len(res.Records)
			pos = res.Next
			res.Release()
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoopbackPipe is the ceiling BenchmarkWireTLS's reads run under:
// 4 MiB writes through a bare loopback TCP connection, and through Go's TLS
// on one (the cipher Go picks, AES-GCM where the CPU has AES instructions),
// with nothing of sluice's in between.
func BenchmarkLoopbackPipe(b *testing.B) {
	ca := testcert.NewCA(b, "sluice-bench")
	p := ca.Server("server")
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			if secure {
				ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{p.Cert}})
			}
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4<<20)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			var c net.Conn
			if secure {
				c, err = tls.Dial("tcp", ln.Addr().String(), ca.ClientConfig(nil))
			} else {
				c, err = net.Dial("tcp", ln.Addr().String())
			}
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 4<<20)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchSubscribe(b *testing.B, addr string, cfg *tls.Config) {
	const records, size = benchReadRecords, benchReadSize
	c := dialBench(b, addr, cfg)
	ctx := context.Background()
	stream := readStream(b, c, addr)
	b.SetBytes(records * size)
	b.ResetTimer()
	for range b.N {
		sub, err := c.SubscribeShard(ctx, stream, "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon}, client.SubscribeOptions{Window: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		for got := 0; got < records; {
			ev, err := sub.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			got += len(ev.Records)
			ev.Release()
		}
		sub.Close()
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
