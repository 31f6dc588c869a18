//go:build linux

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// netLab is a small network of namespaces: one per node, each with an
// interface on a bridge in the test's own namespace, so the test reaches
// every node and the nodes reach each other through the kernel's network
// stack, as on separate machines.
type netLab struct {
	t      *testing.T
	tag    string
	subnet string // the first three octets
	ns     map[uint64]string
}

// newNetLab builds the namespaces for ids, or skips the test when this
// process may not (not root, no ip(8), no network namespaces).
func newNetLab(t *testing.T, ids []uint64) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need ip(8) (Debian: iproute2)")
	}
	l := &netLab{t: t, tag: fmt.Sprintf("%04x", rand.IntN(1<<16)), subnet: fmt.Sprintf("10.213.%d", 1+rand.IntN(250)), ns: map[uint64]string{}}
	bridge := "slb" + l.tag
	if out, err := exec.Command("ip", "link", "add", bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("cannot create network devices here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		for _, ns := range l.ns {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		exec.Command("ip", "link", "del", bridge).Run()
	})
	l.ip("addr", "add", l.subnet+".254/24", "dev", bridge)
	l.ip("link", "set", bridge, "up")
	for _, id := range ids {
		ns := fmt.Sprintf("sl%sn%d", l.tag, id)
		veth := fmt.Sprintf("slv%s%d", l.tag, id)
		l.ip("netns", "add", ns)
		l.ns[id] = ns
		l.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip("link", "set", veth, "master", bridge)
		l.ip("link", "set", veth, "up")
		l.ip("-n", ns, "addr", "add", l.addr(id)+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	return l
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// addr is node id's address.
func (l *netLab) addr(id uint64) string { return fmt.Sprintf("%s.%d", l.subnet, id) }

// cut drops every packet between a and b, both ways, from now on (a
// blackhole route in each one's namespace); heal takes the routes away.
func (l *netLab) cut(a, b uint64) {
	l.ip("-n", l.ns[a], "route", "add", "blackhole", l.addr(b)+"/32")
	l.ip("-n", l.ns[b], "route", "add", "blackhole", l.addr(a)+"/32")
}

func (l *netLab) heal(a, b uint64) {
	l.ip("-n", l.ns[a], "route", "del", "blackhole", l.addr(b)+"/32")
	l.ip("-n", l.ns[b], "route", "del", "blackhole", l.addr(a)+"/32")
}

// startNetnsCluster starts n nodes, each in its own namespace of a new
// netLab, with the Raft transport and both front doors on its address.
func startNetnsCluster(t *testing.T, bin binaries, n int, extra ...string) (*testCluster, *netLab) {
	t.Helper()
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	lab := newNetLab(t, ids)
	c := &testCluster{t: t, bin: bin, dir: t.TempDir(), ids: ids, raft: map[uint64]string{}, wire: map[uint64]string{},
		http: map[uint64]string{}, nodes: map[uint64]*server{}, prefix: map[uint64][]string{},
		extra: append([]string{"--insecure"}, extra...)}
	var peers []string
	for _, id := range ids {
		a := lab.addr(id)
		c.raft[id], c.wire[id], c.http[id] = a+":7001", a+":4568", a+":4567"
		c.prefix[id] = []string{"ip", "netns", "exec", lab.ns[id]}
		peers = append(peers, fmt.Sprintf("%d=%s", id, c.raft[id]))
	}
	c.peers = strings.Join(peers, ",")
	for _, id := range ids {
		c.launch(id)
	}
	for _, id := range ids {
		c.node(id).waitServing(t, 60*time.Second)
	}
	return c, lab
}

// TestCluster_NetnsPartition runs three sluiced processes in three network
// namespaces and partitions the leader of a shard from the two other nodes
// with blackhole routes, so its packets are lost in the kernel as on a real
// network, while the test still reaches every node. Producers put through
// all three nodes. While the partition lasts the majority elects a leader
// and acknowledges puts, and the node cut off acknowledges none of the puts
// sent to it; after the heal it catches up, and every acknowledged record is
// on every node exactly where its acknowledgement put it.
func TestCluster_NetnsPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers in network namespaces")
	}
	bin := build(t)
	c, lab := startNetnsCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx := context.Background()
	const stream = "netsplit"
	if _, err := clusterClient(c.http[1]).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	var lead uint64
	if !pollUntil(30*time.Second, func() bool { lead = c.leaderOfMost(1); return lead != 0 }) {
		t.Fatal("no shard has a leader")
	}
	var others []uint64
	for _, id := range c.ids {
		if id != lead {
			others = append(others, id)
		}
	}

	type put struct {
		node       uint64
		start, end time.Time
	}
	var (
		mu     sync.Mutex
		acked  []clusterAck
		puts   []put // every acknowledged put, when it was sent and answered
		failed []put // every put that failed
		byNode = map[uint64]int{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range c.ids {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			cl := clusterClient(c.http[id])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := fmt.Sprintf("n%d-%d", id, i)
				start := time.Now()
				cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
				out, err := cl.PutRecord(cctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(d), Data: []byte(d)})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, clusterAck{shard: aws.ToString(out.ShardId), seq: aws.ToString(out.SequenceNumber), data: d})
					puts = append(puts, put{id, start, time.Now()})
					byNode[id]++
					mu.Unlock()
				} else {
					mu.Lock()
					failed = append(failed, put{id, start, time.Now()})
					mu.Unlock()
				}
			}
		}(id)
	}
	count := func(id uint64) int {
		mu.Lock()
		defer mu.Unlock()
		return byNode[id]
	}
	if !pollUntil(30*time.Second, func() bool { return count(lead) > 50 && count(others[0]) > 50 }) {
		t.Fatal("no puts acknowledged before the partition")
	}

	for _, o := range others {
		lab.cut(lead, o)
	}
	cutAt := time.Now() // every put sent from now on meets the partition
	before := [2]int{count(others[0]), count(others[1])}
	if !pollUntil(30*time.Second, func() bool { return count(others[0]) > before[0]+50 && count(others[1]) > before[1]+50 }) {
		t.Fatal("the majority side acknowledged no puts within 30 s of the partition")
	}
	// Puts sent to the node cut off must fail, not hang.
	failedOnCut := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range failed {
			if p.node == lead && p.start.After(cutAt) {
				n++
			}
		}
		return n
	}
	if !pollUntil(30*time.Second, func() bool { return failedOnCut() >= 2 }) {
		t.Fatalf("puts sent to node %d, cut off, neither failed nor were acknowledged within 30 s", lead)
	}
	healAt := time.Now()
	for _, o := range others {
		lab.heal(lead, o)
	}
	healed := count(lead)
	if !pollUntil(30*time.Second, func() bool { return count(lead) > healed+50 }) {
		t.Fatal("the node that was cut off acknowledged no puts within 30 s of the partition healing")
	}
	close(stop)
	wg.Wait()

	var minority int
	for _, p := range puts {
		if p.node == lead && p.start.After(cutAt) && p.end.Before(healAt) {
			minority++
			t.Logf("put sent %v after the cut, acknowledged %v after", p.start.Sub(cutAt), p.end.Sub(cutAt))
		}
	}
	if minority > 0 {
		t.Errorf("node %d, cut off from the others, acknowledged %d puts sent to it during the partition", lead, minority)
	}
	t.Logf("%d records acknowledged; node %d led the most shards and was cut off for %v", len(acked), lead, healAt.Sub(cutAt).Round(time.Millisecond))
	checkReplicas(t, c, stream, acked)
}
