package engine

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

func streamStatus(t *testing.T, e *Engine, name string) api.StreamStatus {
	t.Helper()
	si, err := e.DescribeStream(name)
	if err != nil {
		t.Fatal(err)
	}
	return si.Status
}

// TestReshard_SecondWhileOneRunsIsRefused holds a SplitShard in the middle
// of its work (the engine's reshard lock taken from outside): the stream
// shows UPDATING, a second SplitShard, MergeShards, UpdateShardCount or
// mode change fails with ResourceInUse, and once the first finishes the
// stream is ACTIVE and takes reshards again.
func TestReshard_SecondWhileOneRunsIsRefused(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 2)
	if st := streamStatus(t, e, "s"); st != api.StatusActive {
		t.Fatalf("a new stream is %s; want ACTIVE", st)
	}
	e.reshards.Lock()
	done := make(chan error, 1)
	go func() { done <- e.SplitShard("s", "shardId-000000000000", api.HashKey{Hi: 1 << 60}) }()
	st, _ := e.lookup("s")
	deadline := time.Now().Add(10 * time.Second)
	for !st.scaling.Load() {
		if time.Now().After(deadline) {
			e.reshards.Unlock()
			t.Fatal("the first SplitShard never started")
		}
		runtime.Gosched()
	}
	if got := streamStatus(t, e, "s"); got != api.StatusUpdating {
		t.Errorf("during a reshard the stream is %s; want UPDATING", got)
	}
	for what, second := range map[string]func() error{
		"SplitShard":       func() error { return e.SplitShard("s", "shardId-000000000001", api.HashKey{Hi: 1<<63 + 1}) },
		"MergeShards":      func() error { return e.MergeShards("s", "shardId-000000000000", "shardId-000000000001") },
		"UpdateShardCount": func() error { return e.UpdateShardCount("s", 4) },
		"SetStreamMode":    func() error { return e.SetStreamMode("s", api.OnDemand) },
	} {
		if what == "SetStreamMode" && clusterMode() {
			// A replica applies a committed mode change while it
			// reshards the stream, as every replica must apply it alike;
			// this node's reshard does not order it.
			continue
		}
		if err := second(); !errors.Is(err, api.ErrInUse) {
			t.Errorf("%s during a reshard: %v; want ResourceInUse", what, err)
		}
	}
	e.reshards.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("the first SplitShard: %v", err)
	}
	if got := streamStatus(t, e, "s"); got != api.StatusActive {
		t.Errorf("after the reshard the stream is %s; want ACTIVE", got)
	}
	if err := e.SplitShard("s", "shardId-000000000001", api.HashKey{Hi: 1<<63 + 1}); err != nil {
		t.Errorf("a reshard after the first finished: %v", err)
	}
}

// TestUpdateShardCount_TenPerRolling24Hours: the 11th call within 24 hours
// is refused with LimitExceeded, refused calls (bad targets) do not count,
// and a call is allowed again once the oldest is 24 hours old, also after
// a restart.
func TestUpdateShardCount_TenPerRolling24Hours(t *testing.T) {
	clk := newTestClock()
	dir := t.TempDir()
	open := func() *Engine {
		return openTest(t, func(o *Options) { o.Dir, o.Now = dir, clk.now })
	}
	e := open()
	mustCreate(t, e, "s", 2)
	if err := e.UpdateShardCount("s", 5); err == nil {
		t.Fatal("UpdateShardCount from 2 to 5 shards succeeded; more than double must be refused")
	}
	for i := 0; i < MaxShardCountUpdates; i++ {
		clk.advance(time.Hour)
		target := 4 // 2 -> 4 -> 2 -> ...
		if i%2 == 1 {
			target = 2
		}
		if err := e.UpdateShardCount("s", target); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := e.UpdateShardCount("s", 2)
	if !errors.Is(err, api.ErrLimitExceeded) {
		t.Fatalf("11th UpdateShardCount in 24 hours: %v; want LimitExceeded", err)
	}
	closeEngine(e)
	e = open()
	if err := e.UpdateShardCount("s", 2); !errors.Is(err, api.ErrLimitExceeded) {
		t.Fatalf("11th UpdateShardCount after a restart: %v; want LimitExceeded", err)
	}
	clk.advance(15 * time.Hour) // the first call is now 24 hours old
	if err := e.UpdateShardCount("s", 2); err != nil {
		t.Fatalf("a call once the oldest left the 24-hour window: %v", err)
	}
}
