package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// consumerQuotaStream opens an engine on a settable clock with a stream "s"
// of n shards whose fan-out consumers may each take 1000 B/s.
func consumerQuotaStream(t *testing.T, shards int) (*testClock, *Engine) {
	t.Helper()
	clk := newTestClock()
	e := openTest(t, func(o *Options) { o.Now = clk.now })
	q := ratelimit.Limits{ConsumerBytesPerSec: 1000}
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: shards, Quotas: &q}); err != nil {
		t.Fatal(err)
	}
	return clk, e
}

func mustConsumerQuota(t *testing.T, e *Engine, shard int) *ratelimit.Consumer {
	t.Helper()
	c, err := e.NewConsumerQuota("s", shard)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewConsumerQuota_PacesEachConsumerIndependently(t *testing.T) {
	clk, e := consumerQuotaStream(t, 2)
	a, b := mustConsumerQuota(t, e, 1), mustConsumerQuota(t, e, 1)
	if !a.Allow() {
		t.Fatal("a fresh consumer quota refuses its first push")
	}
	a.Charge(3000) // three seconds' worth: a is in debt for two seconds
	if a.Allow() {
		t.Fatal("a consumer over its quota is still allowed")
	}
	if d := a.Delay(); d <= time.Second || d > 3*time.Second {
		t.Fatalf("Delay after 3000 B at 1000 B/s = %v; want about 2 s", d)
	}
	if !b.Allow() {
		t.Fatal("a second consumer of the same shard is throttled by the first one's pushes")
	}
	clk.advance(2100 * time.Millisecond)
	if !a.Allow() {
		t.Fatalf("consumer still throttled after its debt was paid (Delay %v)", a.Delay())
	}
}

func TestNewConsumerQuota_FollowsSetQuotas(t *testing.T) {
	_, e := consumerQuotaStream(t, 1)
	c := mustConsumerQuota(t, e, 0)
	if err := e.SetQuotas("s", &ratelimit.Unlimited); err != nil {
		t.Fatal(err)
	}
	c.Charge(1 << 30)
	if !c.Allow() {
		t.Fatal("consumer quota still limited after the stream's quotas were lifted")
	}
}

func TestNewConsumerQuota_UnknownStreamOrShard(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	if _, err := e.NewConsumerQuota("nope", 0); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown stream: err = %v; want ResourceNotFound", err)
	}
	if _, err := e.NewConsumerQuota("s", 5); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown shard: err = %v; want ResourceNotFound", err)
	}
}
