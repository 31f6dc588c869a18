// Package ticker runs a periodic task on a background goroutine's behalf:
// the loop every janitor, flusher and refresher in the tree would otherwise
// write again.
package ticker

import "time"

// Every calls fn once every d until stop is closed, then returns. The first
// call comes d after Every starts; a call still running when stop closes
// finishes before Every returns. d must be positive.
func Every(d time.Duration, stop <-chan struct{}, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}
