package ticker

import (
	"testing"
	"time"
)

func TestEvery_CallsUntilStopThenReturns(t *testing.T) {
	stop := make(chan struct{})
	calls := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(time.Millisecond, stop, func() { calls <- struct{}{} })
	}()
	for range 3 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("fn was not called within 10s")
		}
	}
	close(stop)
	// A tick may be in flight while stop closes; drain it so Every can return.
	for {
		select {
		case <-calls:
		case <-done:
			return
		case <-time.After(10 * time.Second):
			t.Fatal("Every did not return within 10s of stop closing")
		}
	}
}

func TestEvery_ReturnsAtOnceWhenStopAlreadyClosed(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	called := false
	Every(time.Hour, stop, func() { called = true })
	if called {
		t.Fatal("fn ran although stop was closed before the first tick")
	}
}
