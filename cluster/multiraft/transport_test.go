package multiraft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/cluster/transport"
)

// TestHost_OverTCP runs three hosts over the TCP transport of package
// cluster/transport on loopback, with real ticks: groups elect, proposals
// commit on every node, and when a node is killed the groups it led elect
// new leaders and go on committing.
func TestHost_OverTCP(t *testing.T) {
	const nodes = 3
	lns := make([]net.Listener, nodes)
	peers := make(map[uint64]string)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skipf("no loopback TCP: %v", err)
		}
		lns[i] = ln
		peers[uint64(i+1)] = ln.Addr().String()
	}
	type tcpNode struct {
		host *Host
		tr   *transport.Transport
		sm   *toySM
	}
	ns := make([]*tcpNode, nodes)
	for i := range ns {
		id := uint64(i + 1)
		sm := newToySM()
		h, err := New(Config{NodeID: id, Store: NewMemStore(), StateMachine: sm, TickInterval: 10 * time.Millisecond, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := transport.New(transport.Config{NodeID: id, ClusterID: 1, Listener: lns[i], Peers: peers, Receiver: h, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		h.SetTransport(tr)
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		ns[i] = &tcpNode{h, tr, sm}
	}
	var closeOnce sync.Once
	closeAll := func() {
		closeOnce.Do(func() {
			for _, n := range ns {
				n.host.Close()
				n.tr.Close()
			}
		})
	}
	t.Cleanup(closeAll)

	groups := groupIDs(8)
	for _, n := range ns {
		for _, g := range groups {
			if err := n.host.AddGroup(g, []uint64{1, 2, 3}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range groups {
		if err := ns[g%nodes].host.Campaign(g); err != nil {
			t.Fatal(err)
		}
	}
	// propose retries on any node until one accepts, as a client would;
	// the deadline only bounds a test that would otherwise hang.
	propose := func(g uint64, payload string, live []*tcpNode) (uint64, error) {
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			n := live[i%len(live)]
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			res, err := n.host.Propose(ctx, g, []byte(fmt.Sprintf("%s/%d", payload, i)))
			cancel()
			if err == nil {
				return res.Index, nil
			}
			var nl *NotLeaderError
			if !errors.As(err, &nl) && !Retryable(err) && !errors.Is(err, ErrOutcomeUnknown) {
				return 0, err
			}
			<-time.After(5 * time.Millisecond) // a client's backoff
		}
		return 0, errors.New("no node accepted the proposal in 20 s")
	}
	check := func(live []*tcpNode, last map[uint64]uint64) {
		for _, g := range groups {
			var ref []toyEntry
			for _, n := range live {
				if err := n.sm.waitFor(20*time.Second, func() bool { return n.sm.groupLocked(g).Applied >= last[g] }); err != nil {
					t.Fatalf("group %d: a node did not apply up to %d: %v", g, last[g], err)
				}
				var got []toyEntry
				for _, e := range n.sm.entries(g) {
					if e.Index <= last[g] {
						got = append(got, e)
					}
				}
				if ref == nil {
					ref = got
				} else if !slices_equal(got, ref) {
					t.Errorf("group %d: replicas differ: %v and %v", g, got, ref)
				}
			}
		}
	}
	last := make(map[uint64]uint64)
	for i := 0; i < 20; i++ {
		for _, g := range groups {
			idx, err := propose(g, fmt.Sprintf("g%d-%d", g, i), ns)
			if err != nil {
				t.Fatalf("group %d: %v", g, err)
			}
			last[g] = idx
		}
	}
	check(ns, last)

	// Kill node 1; liveness tells the others.
	ns[0].host.Close()
	ns[0].tr.Close()
	live := ns[1:]
	for _, n := range live {
		n.host.NodeDown(1)
	}
	for _, g := range groups {
		idx, err := propose(g, fmt.Sprintf("g%d-after", g), live)
		if err != nil {
			t.Fatalf("group %d after node 1 died: %v", g, err)
		}
		last[g] = idx
	}
	check(live, last)
}
