package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter_HoldsBackRepeatsAndCountsThem(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Unix(1000, 0)
	l := &Limiter{Every: time.Second, Now: func() time.Time { return now }}
	for i := 0; i < 100; i++ {
		l.Log(logger, slog.LevelWarn, "accept failed", "err", "too many open files")
		now = now.Add(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 100 calls within one second: only the first goes out.
	if len(lines) != 1 {
		t.Fatalf("%d lines within one interval; want 1:\n%s", len(lines), buf.String())
	}
	now = now.Add(time.Second)
	l.Log(logger, slog.LevelWarn, "accept failed", "err", "too many open files")
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "suppressed=99") {
		t.Fatalf("after the interval, want a second line counting 99 suppressed:\n%s", buf.String())
	}
}
