//go:build unix

package e2e

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// TestCluster_RoutedProducer runs a Go client that routes puts to the shard
// leaders against three sluiced processes: the shard map it learns from one
// node names, for each shard, the node /cluster/status says leads it; then,
// while it puts, the node leading the most shards is killed with SIGKILL and
// restarted. No record fails, and every acknowledged record is on every node
// where its acknowledgement put it.
func TestCluster_RoutedProducer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const stream = "routed"
	if _, err := clusterClient(c.http[1]).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	cl, err := client.DialCluster(ctx, []string{c.wire[1]}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// The map agrees with the nodes' status once every node has announced
	// its address and every shard has a leader.
	byWire := map[string]uint64{}
	for _, id := range c.ids {
		byWire[c.wire[id]] = id
	}
	if !pollUntil(30*time.Second, func() bool {
		st, err := c.status(1)
		if err != nil {
			return false
		}
		leaders, err := cl.ShardLeaders(ctx, stream)
		if err != nil || len(leaders) != 4 {
			return false
		}
		for _, sh := range st.Shards {
			if sh.Stream == stream && (sh.Leader == 0 || byWire[leaders[sh.Shard]] != sh.Leader) {
				return false // not settled yet
			}
		}
		return true
	}) {
		leaders, _ := cl.ShardLeaders(ctx, stream)
		t.Fatalf("the client's shard map %v does not name the leaders /cluster/status shows", leaders)
	}

	var (
		mu     sync.Mutex
		acked  []clusterAck
		failed []string
	)
	p, err := cl.NewProducer(ctx, client.ProducerOptions{Stream: stream, MaxAttempts: 40, BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second,
		OnResult: func(r client.ProducerResult) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", r.Data, r.Err))
				return
			}
			acked = append(acked, clusterAck{shard: api.ShardID(int(r.Seq.Shard)), seq: r.Seq.String(), data: string(r.Data)})
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- p.Close(ctx)
				return
			default:
			}
			// Rounds of 20 records, each flushed: the load is paced by
			// the acknowledgements, so the check at the end reads tens of
			// thousands of records, not millions.
			for k := range 20 {
				d := fmt.Sprint("r-", i, "-", k)
				if err := p.Put(ctx, []byte(d), []byte(d)); err != nil {
					done <- err
					return
				}
			}
			if err := p.Flush(ctx); err != nil {
				done <- err
				return
			}
		}
	}()
	waitAcks := func(more int) {
		t.Helper()
		mu.Lock()
		base := len(acked)
		mu.Unlock()
		if !pollUntil(60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= base+more
		}) {
			t.Fatalf("the routed producer acknowledged fewer than %d records in 60s", more)
		}
	}
	waitAcks(1000)
	victim := c.leaderOfMost(1)
	if victim == 0 {
		victim = 1
	}
	c.node(victim).stop(t, syscall.SIGKILL)
	waitAcks(1000) // the other two carry on
	c.launch(victim).waitServing(t, 60*time.Second)
	waitAcks(1000)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("producer: %v", err)
	}
	st := cl.Stats()
	t.Logf("%d records acknowledged across the kill of node %d; cluster client stats %+v; producer stats %+v", len(acked), victim, st, p.Stats())
	if len(failed) > 0 {
		t.Fatalf("%d records failed; the first: %s", len(failed), failed[0])
	}
	checkReplicas(t, c, stream, acked)
}
