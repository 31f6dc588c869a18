package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkAutoscale_Zipf8x offers an ON_DEMAND stream 8× one shard's
// record quota (8,000 records/s of 100 B) under Kinesis quotas, with
// partition keys drawn from a Zipf distribution (s = 1.01 over 100,000
// keys: the hottest key carries about 700 records/s, below one shard's
// quota, so 100% is reachable). The clock is injected and moves one second
// per step, so the quotas and the autoscaler's 10 s window run on simulated
// time while every record really goes through PutRecords. It reports the
// simulated seconds until the stream accepts at least 90% of what it is
// offered in every second of 30 in a row, the accepted share of every 10 s
// of a 120 s run and the open shards at its end, for splitting at the observed traffic
// and at the midpoint (as Kinesis does), in the same run.
//
//	go test -run '^$' -bench BenchmarkAutoscale_Zipf8x -benchtime 1x -v ./engine/
func BenchmarkAutoscale_Zipf8x(b *testing.B) {
	for _, midpoint := range []bool{false, true} {
		name := "split=traffic"
		if midpoint {
			name = "split=midpoint"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				secs, shards, series := zipfScaleRun(b, midpoint)
				b.ReportMetric(float64(secs), "sim-s-to-90%")
				b.ReportMetric(float64(shards), "shards")
				b.Logf("%s: accepted share per 10 s: %s", name, series)
			}
		})
	}
}

func zipfScaleRun(b *testing.B, midpoint bool) (secs, shards int, series string) {
	const (
		offered = 8000
		keys    = 100_000
		maxSecs = 120
	)
	clk := newTestClock()
	q := ratelimit.Kinesis
	e, err := Open(Options{Dir: b.TempDir(), Quotas: &q, Durability: api.None, Now: clk.now, Logger: quietLogger(),
		Autoscale: AutoscaleOptions{Window: 10 * time.Second, MergeWindow: time.Hour, Midpoint: midpoint, Off: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "z", Mode: api.OnDemand}); err != nil {
		b.Fatal(err)
	}
	hashes := make([]api.HashKey, keys)
	for k := range hashes {
		hashes[k] = api.HashPartitionKey(fmt.Appendf(nil, "key-%d", k))
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(7, 7)), 1.01, 1, keys-1)
	data := make([]byte, 100)
	recs := make([]api.PutRecord, api.MaxPutRecords)
	res := make([]api.PutResult, api.MaxPutRecords)
	// Reached: the first of sustain seconds in a row that each accept 90%
	// (a fresh child shard's full token bucket can lift one second alone).
	const sustain = 30
	secs = -1
	window, run := 0, 0
	for s := 1; s <= maxSecs; s++ {
		clk.advance(time.Second)
		accepted := 0
		for sent := 0; sent < offered; sent += len(recs) {
			for i := range recs {
				recs[i] = api.PutRecord{Key: []byte("k"), Data: data, ExplicitHash: hashes[zipf.Uint64()], HasExplicitHash: true}
			}
			failed, err := e.PutRecords("z", recs, res)
			if err != nil {
				b.Fatal(err)
			}
			accepted += len(recs) - failed
		}
		e.AutoscaleNow()
		window += accepted
		if s%10 == 0 {
			series += fmt.Sprintf(" %.2f", float64(window)/(10*offered))
			window = 0
		}
		if accepted*10 >= offered*9 {
			run++
		} else {
			run = 0
		}
		if run == sustain && secs < 0 {
			secs = s - sustain + 1
		}
	}
	si, _ := e.DescribeStream("z")
	return secs, si.OpenShardCount(), series
}

// BenchmarkSketch_Add is the put path's cost of the traffic sketch per
// record, from every core at once into one shard's sketch (the worst case:
// all producers contend on its counters).
func BenchmarkSketch_Add(b *testing.B) {
	s := newSketch(api.HashKey{}, api.MaxHashKey)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			s.add(api.HashKey{Hi: r.Uint64(), Lo: r.Uint64()}, 100)
		}
	})
}
