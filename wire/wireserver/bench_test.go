package wireserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// Benchmarks run through the real server over loopback TCP, against an
// engine on a temp directory of the real file system. "Durable" means the
// Always mode: every acknowledged put was fdatasync'ed.

// benchEnv starts a server on a fresh engine. SLUICE_BENCH_FSYNC
// (always, interval, none) overrides the durability, for experiments.
func benchEnv(b *testing.B, durability api.Durability) (*testEnv, *client.Client) {
	if v := os.Getenv("SLUICE_BENCH_FSYNC"); v != "" {
		d, err := api.ParseDurability(v)
		if err != nil {
			b.Fatal(err)
		}
		durability = d
	}
	env := newTestEnv(b, func(eo *engine.Options, _ *ServerOptions) { eo.Durability = durability })
	return env, env.dial(client.ClientOptions{})
}

func benchStream(b *testing.B, c *client.Client, name string, shards int, d api.Durability) {
	q := ratelimit.Unlimited
	if _, err := c.CreateStream(context.Background(), api.CreateStreamInput{Name: name, ShardCount: shards, Quotas: &q, Durability: d}); err != nil {
		b.Fatal(err)
	}
}

// latencies holds one histogram (in µs) per worker, merged after the timed
// region.
type latencies struct{ hs []*hdrhistogram.Histogram }

func (l *latencies) report(b *testing.B) {
	all := hdrhistogram.New(1, 10_000_000, 2)
	for _, h := range l.hs {
		all.Merge(h)
	}
	b.ReportMetric(float64(all.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(all.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(all.ValueAtQuantile(99.9)), "p999-µs")
}

// runWorkers runs workers goroutines that together perform b.N operations
// of op, each worker recording its operations' latencies. It returns the
// elapsed time.
func runWorkers(b *testing.B, workers int, op func(w int) error) (*latencies, time.Duration) {
	lat := &latencies{}
	for range workers {
		lat.hs = append(lat.hs, hdrhistogram.New(1, 10_000_000, 2))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := lat.hs[w]
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				// Every 8th operation is timed: recording each one into a
				// thousand histograms costs more cache misses than the
				// operation under test.
				if i%8 != 0 {
					if err := op(w); err != nil {
						b.Error(err)
						return
					}
					continue
				}
				t := time.Now()
				if err := op(w); err != nil {
					b.Error(err)
					return
				}
				h.RecordValue(time.Since(t).Microseconds())
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	return lat, el
}

// BenchmarkPutRecords: durable PutRecords of 500 records of 100 B through
// the server, several requests in flight on one connection. One operation
// is one request of 500 records. The engine baseline makes the same calls
// on the engine directly, in the same process, without the protocol.
func BenchmarkPutRecords(b *testing.B) {
	const batch, size = 500, 100
	bench := func(b *testing.B, shards, inflight int, direct bool) {
		env, c := benchEnv(b, api.Always)
		benchStream(b, c, "s", shards, api.DurabilityDefault)
		recs := make([][]api.PutRecord, inflight)
		results := make([][]api.PutResult, inflight)
		for w := range recs {
			recs[w] = make([]api.PutRecord, batch)
			results[w] = make([]api.PutResult, batch)
			for i := range recs[w] {
				recs[w][i] = api.PutRecord{Key: []byte(fmt.Sprintf("key-%d-%d", w, i)), Data: make([]byte, size)}
			}
		}
		b.SetBytes(batch * size)
		b.ReportAllocs()
		lat, el := runWorkers(b, inflight, func(w int) error {
			var failed int
			var err error
			if direct {
				failed, err = env.eng.PutRecords("s", recs[w], results[w])
			} else {
				failed, err = c.PutRecords(context.Background(), "s", recs[w], results[w])
			}
			if err == nil && failed > 0 {
				err = fmt.Errorf("%d records failed: %v", failed, results[w][0].Err)
			}
			return err
		})
		b.ReportMetric(float64(b.N*batch)/el.Seconds(), "records/s")
		lat.report(b)
	}
	b.Run("baseline=engine/batch=500/size=100B/shards=1/inflight=16", func(b *testing.B) { bench(b, 1, 16, true) })
	for _, shards := range []int{1, 4} {
		for _, inflight := range []int{4, 16} {
			b.Run(fmt.Sprintf("batch=500/size=100B/shards=%d/inflight=%d", shards, inflight), func(b *testing.B) {
				bench(b, shards, inflight, false)
			})
		}
	}
}

// BenchmarkPutRecord: durable single-record puts of 100 B, pipelined: many
// calls in flight on one connection (the server coalesces the ones that
// arrive together into one engine call). One operation is one record. The
// engine baseline makes the same single-record calls on the engine
// directly.
func BenchmarkPutRecord(b *testing.B) {
	bench := func(b *testing.B, shards, inflight int, direct bool) {
		env, c := benchEnv(b, api.Always)
		benchStream(b, c, "s", shards, api.DurabilityDefault)
		keys := make([][]byte, inflight)
		for i := range keys {
			keys[i] = []byte(fmt.Sprintf("key-%d", i))
		}
		data := make([]byte, 100)
		b.SetBytes(100)
		b.ReportAllocs()
		lat, el := runWorkers(b, inflight, func(w int) error {
			rec := api.PutRecord{Key: keys[w], Data: data}
			if direct {
				_, err := env.eng.PutRecord("s", rec, "")
				return err
			}
			_, err := c.PutRecord(context.Background(), "s", rec)
			return err
		})
		b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
		lat.report(b)
	}
	b.Run("baseline=engine/size=100B/shards=1/inflight=1024", func(b *testing.B) { bench(b, 1, 1024, true) })
	for _, shards := range []int{1, 4} {
		for _, inflight := range []int{256, 1024, 4096} {
			b.Run(fmt.Sprintf("size=100B/shards=%d/inflight=%d", shards, inflight), func(b *testing.B) {
				bench(b, shards, inflight, false)
			})
		}
	}
}

// BenchmarkPutRecordAsync: durable single-record puts of 100 B, pipelined
// from one goroutine with PutRecordAsync: inflight requests outstanding at
// any time, no goroutine per request. One operation is one record.
func BenchmarkPutRecordAsync(b *testing.B) {
	for _, shards := range []int{1, 4} {
		for _, inflight := range []int{1024, 4096} {
			b.Run(fmt.Sprintf("size=100B/shards=%d/inflight=%d", shards, inflight), func(b *testing.B) {
				_, c := benchEnv(b, api.Always)
				benchStream(b, c, "s", shards, api.DurabilityDefault)
				keys := make([][]byte, 1024)
				for i := range keys {
					keys[i] = []byte(fmt.Sprintf("key-%d", i))
				}
				data := make([]byte, 100)
				tokens := make(chan struct{}, inflight)
				sent := make([]int64, b.N)
				h := hdrhistogram.New(1, 10_000_000, 2) // written by the client's reader only
				var failed atomic.Int64
				var wg sync.WaitGroup
				b.SetBytes(100)
				b.ReportAllocs()
				b.ResetTimer()
				t0 := time.Now()
				for i := 0; i < b.N; i++ {
					tokens <- struct{}{}
					wg.Add(1)
					sent[i] = time.Now().UnixMicro()
					err := c.PutRecordAsync("s", api.PutRecord{Key: keys[i%len(keys)], Data: data}, func(_ api.SeqNum, err error) {
						if err != nil {
							failed.Add(1)
						}
						h.RecordValue(time.Now().UnixMicro() - sent[i])
						<-tokens
						wg.Done()
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
				el := time.Since(t0)
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d puts failed", n)
				}
				b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
				b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-µs")
				b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-µs")
				b.ReportMetric(float64(h.ValueAtQuantile(99.9)), "p999-µs")
			})
		}
	}
}

// filledShard starts a server (durability None) with a one-shard stream
// "s", puts records of size bytes until it holds total bytes of data, and
// returns a client and the shard's TRIM_HORIZON.
func filledShard(b *testing.B, size, total int) (*client.Client, api.Position) {
	_, c := benchEnv(b, api.None)
	benchStream(b, c, "s", 1, api.DurabilityDefault)
	recs := make([]api.PutRecord, 500)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
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
	return c, start
}

// BenchmarkTailRead: reads of 1 KiB records already in the page cache
// through the server, which writes them with writev straight from the
// mapped segment; the client verifies every CRC. Throughput counts keys and
// data. The tcp baseline is one loopback connection carrying 1 MiB writes
// into 1 MiB reads, measured in the same run.
func BenchmarkTailRead(b *testing.B) {
	const size, total = 1 << 10, 256 << 20
	b.Run("baseline=tcp", benchLoopbackTCP)
	for _, readers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("read/size=1KiB/max=4MiB/inflight=%d", readers), func(b *testing.B) {
			c, start := filledShard(b, size, total)
			var payload atomic.Int64
			pos := make([]api.Position, readers)
			res := make([]client.ReadResult, readers)
			for i := range pos {
				pos[i] = start
			}
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
	b.Run("subscribe/size=1KiB/window=8MiB", func(b *testing.B) {
		c, start := filledShard(b, size, total)
		// One operation is one event (at most 1 MiB); a new subscription
		// starts over when one reaches the tip.
		var payload int64
		sub, err := c.Subscribe(context.Background(), start, client.SubscribeOptions{Window: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
			ev, err := sub.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			payload += int64(ev.Bytes)
			next := ev.Next.Seq
			ev.Release()
			if next >= uint64(total/size) {
				sub.Close()
				if sub, err = c.Subscribe(context.Background(), start, client.SubscribeOptions{Window: 8 << 20}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		sub.Close()
		b.ReportMetric(float64(payload)/time.Since(t0).Seconds()/1e9, "GB/s")
	})
}

// benchLoopbackTCP measures one loopback TCP connection: a writer sending
// 1 MiB writes, a reader reading into a 1 MiB buffer. One operation is 1 MiB.
func benchLoopbackTCP(b *testing.B) {
	l := listenLoopback(b)
	const chunk = 1 << 20
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, chunk)
		for {
			if _, err := nc.Write(buf); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := io.ReadFull(nc, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*chunk/time.Since(t0).Seconds()/1e9, "GB/s")
}

// BenchmarkIdleConnections opens 1,000 connections to one server and
// reports the heap and stack they hold, server and client sides together
// (both run in this process), per connection.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 1000
	env := newServerEnv(b, func(so *ServerOptions) { so.MaxConns = 2 * conns })
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]*client.Client, conns)
		for j := range clients {
			c, err := client.Dial(context.Background(), env.addr, client.ClientOptions{ReadBufferSize: 4 << 10})
			if err != nil {
				b.Fatal(err)
			}
			clients[j] = c
		}
		// A round trip on each: the server has set every connection up.
		for _, c := range clients {
			if err := c.Ping(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := env.srv.Connections(); n != conns {
			b.Fatalf("the server has %d connections; want %d", n, conns)
		}
		per := float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse)) / conns
		b.ReportMetric(per, "B/conn")
		b.ReportMetric(float64(rss())/(1<<20), "RSS-MiB")
		for _, c := range clients {
			c.Close()
		}
	}
}

// rss returns the process's resident set size in bytes (Linux; 0
// elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

// BenchmarkPutRecordsAuth: durable PutRecords (500 records of 100 B, 16 in
// flight on one connection) through a server that authenticates the
// connection and authorizes every request against the user's policy and
// the stream's resource policy (auth=on), against one that does neither
// (auth=off), in the same run. The two alternate in rounds of b.N requests
// (the first of a pair switches every round) and each side reports the
// median of its rounds' rates and its heap allocations per request, client
// and server together.
func BenchmarkPutRecordsAuth(b *testing.B) {
	const batch, size, inflight, rounds = 500, 100, 16, 15
	type side struct {
		name   string
		c      *client.Client
		stream string
		rates  []float64
		allocs []float64
	}
	onEnv := newAuthEnv(b, nil)
	offEnv := newServerEnv(b, nil)
	off := &side{name: "off", c: offEnv.dial(client.ClientOptions{}), stream: "orders-1"}
	benchStream(b, off.c, off.stream, 1, api.DurabilityDefault)
	benchStream(b, onEnv.dial(client.ClientOptions{Credentials: adminKey}), "orders-1", 1, api.DurabilityDefault)
	// The resource policy is evaluated too: it grants someone else.
	if err := onEnv.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"}, "Action": "kinesis:GetRecords", "Resource": "*"}]}`); err != nil {
		b.Fatal(err)
	}
	on := &side{name: "on", c: onEnv.dial(client.ClientOptions{Credentials: ingestKey}), stream: "orders-1"}

	recs := make([][]api.PutRecord, inflight)
	results := make([][]api.PutResult, inflight)
	for w := range recs {
		recs[w] = make([]api.PutRecord, batch)
		results[w] = make([]api.PutResult, batch)
		for i := range recs[w] {
			recs[w][i] = api.PutRecord{Key: []byte(fmt.Sprintf("key-%d-%d", w, i)), Data: make([]byte, size)}
		}
	}
	round := func(s *side) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mallocs := ms.Mallocs
		t0 := time.Now()
		for w := range inflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					failed, err := s.c.PutRecords(context.Background(), s.stream, recs[w], results[w])
					if err == nil && failed > 0 {
						err = fmt.Errorf("%d records failed: %v", failed, results[w][0].Err)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(t0)
		runtime.ReadMemStats(&ms)
		s.rates = append(s.rates, float64(b.N*batch)/el.Seconds())
		s.allocs = append(s.allocs, float64(ms.Mallocs-mallocs)/float64(b.N))
	}
	b.ResetTimer()
	for r := range rounds {
		pair := []*side{off, on}
		if r%2 == 1 {
			pair[0], pair[1] = on, off
		}
		for _, s := range pair {
			round(s)
		}
	}
	b.StopTimer()
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, s := range []*side{off, on} {
		b.ReportMetric(median(s.rates), "records/s-auth="+s.name)
		b.ReportMetric(median(s.allocs), "allocs/req-auth="+s.name)
	}
	b.ReportMetric(median(on.rates)/median(off.rates), "on/off")
}

// BenchmarkAuthorize: the per-request cost of authorization on the reader
// goroutine, for a request allowed by the user's policy on a stream with a
// resource policy: the stream's cached ARN and compiled policy, the
// engine's policy lookup, and the evaluation.
func BenchmarkAuthorize(b *testing.B) {
	env := newAuthEnv(b, nil)
	env.createStream(env.dial(client.ClientOptions{Credentials: adminKey}), "orders-1", 1)
	if err := env.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/reader"}, "Action": "kinesis:GetRecords", "Resource": "*"}]}`); err != nil {
		b.Fatal(err)
	}
	c := newConn(env.srv, &memConn{in: bytes.NewReader(nil)})
	c.user = env.srv.opts.Auth.Lookup(ingestKey.AccessKeyID)
	c.current, c.gen = c.user, env.srv.opts.Auth.Generation()
	name := []byte("orders-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, e := c.authorize("kinesis:PutRecords", name); e != nil {
			b.Fatal(e)
		}
	}
}
