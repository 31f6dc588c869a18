package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

// Drain hands every leadership a node holds to the other replicas while
// producers put through the other nodes; no put fails, the drained node
// leads nothing even after the others' balancers run, and it can then be
// stopped without an election. Started again, it takes its preferred
// leaderships back.
func TestNode_DrainHandsOffLeadership(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "d", ShardCount: 8}); err != nil {
		t.Fatal(err)
	}
	for id := range c.engs {
		waitStream(t, c, id, "d")
	}
	leads := func(id uint64) []uint64 { return c.nodes[id].host.Leaders() }
	deadline := time.Now().Add(20 * time.Second)
	for len(leads(1)) == 0 {
		// Node 1 is the preferred replica of some of the shards (and
		// perhaps leads the controller); wait until it leads one.
		if time.Now().After(deadline) {
			t.Fatal("node 1 leads no group after 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var (
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		acked  atomic.Int64
		failMu sync.Mutex
		fails  []error
	)
	for _, id := range []uint64{2, 3} {
		wg.Add(1)
		e := c.engs[id] // c.engs changes as node 1 stops and starts
		go func(id uint64) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := e.PutRecord("d", api.PutRecord{Key: []byte(fmt.Sprintf("k%d-%d", id, i)), Data: []byte("x")}, "")
				if err != nil {
					failMu.Lock()
					fails = append(fails, err)
					failMu.Unlock()
					continue
				}
				acked.Add(1)
			}
		}(id)
	}
	for acked.Load() < 100 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[1].Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if l := leads(1); len(l) != 0 {
		t.Fatalf("node 1 still leads %v after Drain returned", l)
	}
	// The others know node 1 is draining once they applied its
	// announcement; then their balancers hand it nothing back.
	for _, id := range []uint64{2, 3} {
		deadline := time.Now().Add(10 * time.Second)
		for !c.nodes[id].state.draining(1) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not know node 1 is draining after 10 s", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
		c.nodes[id].balanceOnce()
	}
	if l := leads(1); len(l) != 0 {
		t.Fatalf("node 1 leads %v again after the other nodes' balancers ran", l)
	}
	before := acked.Load()
	c.stop(1)
	for acked.Load() < before+100 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d puts failed while node 1 drained and stopped; the first: %v", len(fails), fails[0])
	}
	c.start(1)
	deadline = time.Now().Add(20 * time.Second)
	for len(leads(1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("node 1 leads nothing 20 s after it started again; its preferred shards should come back to it")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStream waits until node id has applied the stream's creation.
func waitStream(t *testing.T, c *testNodes, id uint64, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.engs[id].DescribeStream(name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d does not have stream %s after 10 s", id, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
