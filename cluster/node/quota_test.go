package node

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// A shard's write quota holds across the cluster: records admitted
// through one node are billed on the others once applied there, so the
// shard does not take its limit once through each node. The nodes share a
// clock that stands still, so a bucket refills only when the test says.
func TestNode_QuotaHoldsAcrossNodes(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	c := startNodesWith(t, 3, func(o *engine.Options) { o.Now = clock })
	const limit = 50
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "q", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.Limits{WriteRecordsPerSec: limit, WriteBytesPerSec: 1 << 20}
	if err := c.engs[1].SetQuotas("q", &lim); err != nil {
		t.Fatal(err)
	}
	// The quota is a catalog change, applied by each node on its own:
	// wait until every node has it.
	for id, e := range c.engs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := e.DescribeStream("q")
			if err == nil && info.Quotas.WriteRecordsPerSec == limit {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d did not apply the stream's quota within 10 s", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Spend the whole burst through node 1.
	putN(t, c.engs[1], "q", "via1", limit)
	c.waitSame("q", limit)
	// Nodes 2 and 3 were billed for those records: the shard is spent
	// through them too.
	for _, id := range []uint64{2, 3} {
		_, err := c.engs[id].PutRecord("q", api.PutRecord{Key: []byte(fmt.Sprint("via", id)), Data: []byte("x")}, "")
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeThroughputExceeded {
			t.Fatalf("node %d: a put after the shard's burst was spent through node 1 returned %v; want ProvisionedThroughputExceeded", id, err)
		}
	}
	// A second later the quota has refilled everywhere.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	for _, id := range []uint64{2, 3} {
		if _, err := c.engs[id].PutRecord("q", api.PutRecord{Key: []byte(fmt.Sprint("via", id)), Data: []byte("x")}, ""); err != nil {
			t.Fatalf("node %d: a put a second later failed: %v", id, err)
		}
	}
}
