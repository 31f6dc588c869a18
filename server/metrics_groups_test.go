package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// TestMetrics_Groups: /metrics reports a consumer group's lag per shard,
// its lease moves and its fenced checkpoints.
func TestMetrics_Groups(t *testing.T) {
	s := StartTest(t)
	ctx := context.Background()
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.PutRecord(ctx, "orders", api.PutRecord{Key: []byte("k"), Data: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := c.JoinGroup(ctx, "orders", "billing", "m1", client.JoinGroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Leases[0]
	if err := c.CheckpointGroup(ctx, "orders", "billing", "m2", l.Shard, l.Epoch, client.GroupCheckpoint{ShardEnd: true}, false); !client.IsLeaseLost(err) {
		t.Fatalf("checkpoint from a non-owner: %v; want lease lost", err)
	}
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := string(b)
	for _, want := range []string{
		`sluice_group_lag_records{group="billing",shard="shardId-000000000000",stream="orders"} 3`,
		`sluice_group_lag_milliseconds{group="billing",shard="shardId-000000000000",stream="orders"}`,
		`sluice_group_lease_moves_total{group="billing",stream="orders"} 0`,
		`sluice_group_fenced_checkpoints_total{group="billing",stream="orders"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
