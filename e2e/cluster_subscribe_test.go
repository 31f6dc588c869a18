//go:build unix

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// subscriber follows one shard through the binary protocol, from node to
// node: when its node goes away it subscribes again on the next node from
// the position after the last event it took.
type subscriber struct {
	c     *testCluster
	nodes []uint64 // the nodes it tries, in turn

	mu       sync.Mutex
	got      []api.SeqNum
	data     []string
	resumed  int
	lastNext api.Position
}

func (s *subscriber) run(ctx context.Context, start api.Position) error {
	pos := start
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return nil
		}
		id := s.nodes[i%len(s.nodes)]
		cl, err := client.Dial(ctx, s.c.wire[id], client.ClientOptions{})
		if err != nil {
			continue // the node is down: the next one
		}
		sub, err := cl.Subscribe(ctx, pos, client.SubscribeOptions{})
		if err != nil {
			cl.Close()
			continue
		}
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				break
			}
			s.mu.Lock()
			for _, r := range ev.Records {
				s.got = append(s.got, r.Seq)
				s.data = append(s.data, string(r.Data))
			}
			pos = ev.Next
			s.lastNext = pos
			s.mu.Unlock()
			ev.Release()
		}
		sub.Close()
		cl.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.mu.Lock()
		s.resumed++
		s.mu.Unlock()
	}
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// TestCluster_SubscriptionsAcrossFailover subscribes to a shard on a
// follower and on the shard's leader while producers put through the two
// other nodes, then kills the leader with SIGKILL and starts it again. The
// follower's subscription carries on through the failover; the leader's
// breaks with its process and is taken up on another node from the
// position after its last event. Each must deliver every acknowledged
// record once, in sequence-number order, and nothing else twice.
func TestCluster_SubscriptionsAcrossFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin, err := client.Dial(ctx, c.wire[1], client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const stream = "followed"
	if _, err := admin.CreateStream(ctx, api.CreateStreamInput{Name: stream, ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	var lead uint64
	if !pollUntil(30*time.Second, func() bool { lead = c.leaderOfMost(1); return lead != 0 }) {
		t.Fatal("the shard has no leader")
	}
	var others []uint64
	for _, id := range c.ids {
		if id != lead {
			others = append(others, id)
		}
	}
	start, err := admin.GetIterator(ctx, stream, api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	onFollower := &subscriber{c: c, nodes: []uint64{others[0]}}
	onLeader := &subscriber{c: c, nodes: []uint64{lead, others[1], others[0]}}
	var subs sync.WaitGroup
	for _, s := range []*subscriber{onFollower, onLeader} {
		subs.Add(1)
		go func(s *subscriber) {
			defer subs.Done()
			s.run(ctx, start)
		}(s)
	}

	var (
		mu    sync.Mutex
		acked = map[api.SeqNum]string{}
	)
	stop := make(chan struct{})
	var prod sync.WaitGroup
	for _, id := range others {
		prod.Add(1)
		go func(id uint64) {
			defer prod.Done()
			cl, err := client.Dial(ctx, c.wire[id], client.ClientOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := fmt.Sprintf("n%d-%d", id, i)
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				seq, err := cl.PutRecord(pctx, stream, api.PutRecord{Key: []byte(d), Data: []byte(d)})
				pcancel()
				if err == nil {
					mu.Lock()
					acked[seq] = d
					mu.Unlock()
				}
			}
		}(id)
	}
	nacked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	if !pollUntil(30*time.Second, func() bool { return nacked() > 200 && onLeader.count() > 100 && onFollower.count() > 100 }) {
		t.Fatalf("before the kill: %d puts acknowledged, %d and %d records delivered", nacked(), onFollower.count(), onLeader.count())
	}
	c.node(lead).stop(t, syscall.SIGKILL)
	base := nacked()
	if !pollUntil(30*time.Second, func() bool { return nacked() > base+200 }) {
		t.Fatal("no puts acknowledged within 30 s of the leader's kill")
	}
	c.launch(lead).waitServing(t, 60*time.Second)
	base = nacked()
	if !pollUntil(30*time.Second, func() bool { return nacked() > base+200 }) {
		t.Fatal("no puts acknowledged within 30 s of the restart")
	}
	close(stop)
	prod.Wait()

	// Every subscriber reaches the last acknowledged record.
	var last api.SeqNum
	for s := range acked {
		if s.Seq > last.Seq {
			last = s
		}
	}
	for name, s := range map[string]*subscriber{"on the follower": onFollower, "on the leader, then elsewhere": onLeader} {
		if !pollUntil(30*time.Second, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.got) > 0 && s.got[len(s.got)-1].Seq >= last.Seq
		}) {
			t.Fatalf("the subscription %s did not reach the last acknowledged record (%v) within 30 s", name, last)
		}
	}
	cancel()
	subs.Wait()
	for name, s := range map[string]*subscriber{"on the follower": onFollower, "on the leader, then elsewhere": onLeader} {
		if !slices.IsSortedFunc(s.got, func(a, b api.SeqNum) int { return compareSeq(a, b) }) {
			t.Errorf("the subscription %s delivered records out of order", name)
		}
		seen := map[api.SeqNum]bool{}
		for i, q := range s.got {
			if seen[q] {
				t.Fatalf("the subscription %s delivered %v twice", name, q)
			}
			seen[q] = true
			if d, ok := acked[q]; ok && d != s.data[i] {
				t.Fatalf("the subscription %s delivered %q at %v, acknowledged as %q", name, s.data[i], q, d)
			}
		}
		for q, d := range acked {
			if !seen[q] {
				t.Fatalf("the subscription %s never delivered %q, acknowledged at %v", name, d, q)
			}
		}
		t.Logf("subscription %s: %d records, %d resumptions", name, len(s.got), s.resumed)
	}
	if onLeader.resumed == 0 {
		t.Error("the subscription on the killed leader was never resumed elsewhere")
	}
	if onFollower.resumed != 0 {
		t.Errorf("the subscription on a follower broke %d times; it should carry on through the failover", onFollower.resumed)
	}
}

func compareSeq(a, b api.SeqNum) int {
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}
