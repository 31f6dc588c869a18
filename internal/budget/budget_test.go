package budget

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBudget_ChargesAndReleases(t *testing.T) {
	b := New(100)
	if !b.TryAcquire(60) || !b.TryAcquire(40) {
		t.Fatal("charges within the limit were refused")
	}
	if b.TryAcquire(1) {
		t.Fatal("a charge over the limit was accepted")
	}
	b.Release(50)
	if got := b.InUse(); got != 50 {
		t.Fatalf("in use %d after releasing 50 of 100; want 50", got)
	}
	if !b.TryAcquire(50) {
		t.Fatal("a charge that fits after a release was refused")
	}
}

func TestBudget_OversizedChargeTakesAnEmptyBudget(t *testing.T) {
	b := New(10)
	if !b.TryAcquire(1000) {
		t.Fatal("a charge larger than the whole budget was refused while nothing was charged")
	}
	if b.TryAcquire(1) {
		t.Fatal("a charge was accepted while an oversized one holds the budget")
	}
}

func TestBudget_AcquireWaitsForRelease(t *testing.T) {
	b := New(10)
	b.TryAcquire(10)
	waiting := make(chan struct{})
	b.testHookWait = func() { close(waiting) }
	got := make(chan error, 1)
	go func() { got <- b.Acquire(context.Background(), 5, 0) }()
	<-waiting
	select {
	case err := <-got:
		t.Fatalf("Acquire returned %v before anything was released", err)
	default:
	}
	b.Release(5)
	if err := <-got; err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if b.InUse() != 10 {
		t.Fatalf("in use %d; want 10", b.InUse())
	}
}

func TestBudget_AcquireTimesOutAndCancels(t *testing.T) {
	b := New(10)
	b.TryAcquire(10)
	if err := b.Acquire(context.Background(), 1, 10*time.Millisecond); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Acquire on a spent budget returned %v; want ErrExhausted", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Acquire(ctx, 1, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with a cancelled context returned %v", err)
	}
	if b.InUse() != 10 {
		t.Fatalf("failed Acquires charged something: in use %d", b.InUse())
	}
}

func TestBudget_ConcurrentUseNeverExceedsLimit(t *testing.T) {
	const limit = 1000
	b := New(limit)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if err := b.Acquire(context.Background(), 100, 0); err != nil {
					t.Error(err)
					return
				}
				if u := b.InUse(); u > limit {
					t.Errorf("in use %d over the limit %d", u, limit)
				}
				b.Release(100)
			}
		}()
	}
	wg.Wait()
	if b.InUse() != 0 {
		t.Fatalf("in use %d after every release", b.InUse())
	}
}

func TestBudget_NilIsUnlimited(t *testing.T) {
	var b *Budget
	if !b.TryAcquire(1<<40) || b.Acquire(context.Background(), 1<<40, 0) != nil {
		t.Fatal("a nil budget refused a charge")
	}
	b.Release(1 << 40)
}
