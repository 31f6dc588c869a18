package multiraft

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicedb/sluice/cluster"
)

// electSpread makes node g%3+1 (of the first three) lead each group, and
// waits until every node knows it.
func electSpread(tb testing.TB, c *testCluster, groups []uint64) {
	var wg sync.WaitGroup
	const workers = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(groups); i += workers {
				g := groups[i]
				if err := c.node(g%3 + 1).host.Campaign(g); err != nil {
					tb.Errorf("campaign %d: %v", g, err)
				}
			}
		}()
	}
	wg.Wait()
	c.settle()
}

// BenchmarkPropose: proposals of 100 B committed and applied across three
// hosts over faultnet without faults, 256 proposers at once spread over the
// groups' leaders. saves/op counts Store.Save calls on all three nodes per
// proposal: below 1 means a Save (one fdatasync on a durable store) carries
// many proposals.
//
// sync=0 saves in memory at once; sync=1ms holds every Save for a
// millisecond, as an fdatasync on an SSD would, which is what lets rounds
// gather many proposals.
func BenchmarkPropose(b *testing.B) {
	for _, sync := range []time.Duration{0, time.Millisecond} {
		for _, ng := range []int{1, 64} {
			b.Run(fmt.Sprintf("sync=%v/groups=%d", sync, ng), func(b *testing.B) {
				benchPropose(b, ng, sync)
			})
		}
	}
}

// slowStore holds every Save for a while, as a disk's sync would.
type slowStore struct {
	*MemStore
	sync time.Duration
}

func (s slowStore) Save(u []cluster.Update) error {
	time.Sleep(s.sync) // the device's latency, not a synchronisation
	return s.MemStore.Save(u)
}

func benchPropose(b *testing.B, ng int, sync time.Duration) {
	{
		{
			c := newTestCluster(b, 3, 1, true, func(cfg *Config) {
				// The toy state machine's snapshot marshals its whole
				// history; this measures the host, not that.
				cfg.SnapshotEntries = 1 << 40
				if sync > 0 {
					cfg.Store = slowStore{cfg.Store.(*MemStore), sync}
				}
			})
			groups := groupIDs(ng)
			c.addGroups(groups...)
			electSpread(b, c, groups)
			leaders := make([]*Host, ng)
			for i, g := range groups {
				leaders[i] = c.node(g%3 + 1).host
			}
			var saves0 uint64
			for _, id := range c.ids {
				saves0 += c.node(id).store.Saves()
			}
			payload := make([]byte, 100)
			var next atomic.Uint64
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.SetParallelism(128) // 256 proposers on two CPUs
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := next.Add(1) % uint64(ng)
					if _, err := leaders[i].Propose(ctx, groups[i], payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			var saves uint64
			lat := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
			for _, id := range c.ids {
				n := c.node(id)
				saves += n.store.Saves()
				lat.Merge(n.host.CommitLatency())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "proposals/s")
			b.ReportMetric(float64(saves-saves0)/float64(b.N), "saves/op")
			b.ReportMetric(float64(lat.ValueAtQuantile(50)), "p50-µs")
			b.ReportMetric(float64(lat.ValueAtQuantile(99)), "p99-µs")
		}
	}
}

// BenchmarkIdleTick: one tick round of three hosts with 10,000 idle groups
// each (every group on every host), until every message it causes is
// handled; quiesced, and with quiescing off for comparison.
func BenchmarkIdleTick(b *testing.B) {
	const n = 10_000
	for _, quiesce := range []bool{true, false} {
		c := newTestCluster(b, 3, 1, true, func(cfg *Config) { cfg.noQuiesce = !quiesce })
		groups := groupIDs(n)
		c.addGroups(groups...)
		electSpread(b, c, groups)
		c.tick(3)
		name := "groups=10000/quiesced"
		if !quiesce {
			name = "groups=10000/awake"
		}
		b.Run(name, func(b *testing.B) {
			sent0 := c.net.Stats().Sent
			b.ReportAllocs()
			b.ResetTimer()
			c.tick(b.N)
			b.StopTimer()
			b.ReportMetric(float64(c.net.Stats().Sent-sent0)/float64(b.N), "msgs/op")
		})
		c.close()
	}
}
