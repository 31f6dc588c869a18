// Package ratelog keeps a repeated log line from flooding the log: the first
// occurrence is written at once, later ones at most once per interval with
// the count of those left out since.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter rate-limits one kind of log line. The zero value writes at most
// one line a second.
type Limiter struct {
	// Every is the least time between two lines; default 1 s.
	Every time.Duration
	// Now is the clock; default time.Now (tests inject one).
	Now func() time.Time

	mu      sync.Mutex // guards last and dropped
	last    time.Time
	dropped int
}

// Log writes msg with args to logger at level unless a line went out less
// than Every ago; a line that goes out after others were held back carries
// "suppressed", their count.
func (l *Limiter) Log(logger *slog.Logger, level slog.Level, msg string, args ...any) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	t := now()
	l.mu.Lock()
	if !l.last.IsZero() && t.Sub(l.last) < every {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = t, 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	logger.Log(context.Background(), level, msg, args...)
}
