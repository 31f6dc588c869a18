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
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestCluster_RollingRestart restarts every node of a three-node cluster in
// turn with SIGTERM while producers put through the Kinesis API, the way a
// load balancer drives a rolling restart: a node is taken out of the
// producers' rotation, its requests in flight finish, it gets SIGTERM,
// hands its leaderships off, stops cleanly, starts again and goes back into
// the rotation. No put may fail (the SDK retries as it normally does), and
// every acknowledged record is on every node at the end.
func TestCluster_RollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx := context.Background()
	const stream = "rolling"
	if _, err := clusterClient(c.http[1]).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}

	// The rotation: the nodes producers may send to, and the requests in
	// flight to each.
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		inRot    = map[uint64]bool{1: true, 2: true, 3: true}
		inFlight = map[uint64]int{}
		next     int
		acked    []clusterAck
		fails    []string
	)
	pick := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		for {
			for range c.ids {
				id := c.ids[next%len(c.ids)]
				next++
				if inRot[id] {
					inFlight[id]++
					return id
				}
			}
			cond.Wait()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := pick()
				var entries []sdktypes.PutRecordsRequestEntry
				for k := 0; k < 10; k++ {
					d := fmt.Sprintf("p%d-%d-%d", p, i, k)
					entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String(d), Data: []byte(d)})
				}
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				out, err := clusterClient(c.http[id]).PutRecords(cctx, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				cancel()
				mu.Lock()
				inFlight[id]--
				cond.Broadcast()
				if err != nil {
					fails = append(fails, fmt.Sprintf("node %d: %v", id, err))
				} else {
					for k, r := range out.Records {
						if r.ErrorCode == nil {
							acked = append(acked, clusterAck{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: string(entries[k].Data)})
						} else {
							fails = append(fails, fmt.Sprintf("node %d: record %d: %s: %s", id, k, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)))
						}
					}
				}
				mu.Unlock()
			}
		}(p)
	}
	waitAcks := func(more int) {
		mu.Lock()
		base := len(acked)
		mu.Unlock()
		if !pollUntil(60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= base+more
		}) {
			t.Fatalf("producers acknowledged fewer than %d records in 60 s", more)
		}
	}
	waitAcks(300)
	start := time.Now()
	for _, id := range c.ids {
		mu.Lock()
		inRot[id] = false
		for inFlight[id] > 0 {
			cond.Wait()
		}
		mu.Unlock()
		s := c.node(id)
		if err := s.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("node %d exited with %v after SIGTERM\n%s", id, err, s.logText())
		}
		if len(s.logged("handed off every leadership")) == 0 {
			t.Errorf("node %d stopped without handing off its leaderships\n%s", id, s.logText())
		}
		waitAcks(200) // the two others carry on
		c.launch(id).waitServing(t, 60*time.Second)
		mu.Lock()
		inRot[id] = true
		cond.Broadcast()
		mu.Unlock()
		waitAcks(200)
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	t.Logf("rolling restart of 3 nodes took %v; %d records acknowledged, %d failures", took.Round(time.Millisecond), len(acked), len(fails))
	for i, f := range fails {
		if i == 10 {
			t.Errorf("... and %d more", len(fails)-10)
			break
		}
		t.Errorf("a put failed during the rolling restart: %s", f)
	}
	if len(fails) > 0 {
		for _, id := range c.ids {
			for _, r := range c.node(id).logLines {
				if r["level"] != "INFO" {
					t.Logf("node %d: %v", id, r)
				}
			}
		}
	}
	checkReplicas(t, c, stream, acked)
}
