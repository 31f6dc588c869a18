package server

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// TB is the part of a *testing.T or *testing.B that StartTest uses (an
// interface, so that the server does not link the testing package).
type TB interface {
	Helper()
	TempDir() string
	Fatal(args ...any)
	Cleanup(func())
}

// StartTest starts a server for a test, in-process: free loopback ports, a
// fresh data directory, unlimited quotas, the log discarded. It is shut
// down when the test ends.
func StartTest(t TB) *Server {
	t.Helper()
	s, err := Start(Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}
