package wireserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
)

// testEnv is a real engine on a temp dir served over loopback.
type testEnv struct {
	t    testing.TB
	eng  *engine.Engine
	srv  *Server
	addr string
	done chan error // Serve's result
}

// newTestEnv starts an engine and a server. mod adjusts the options.
func newTestEnv(t testing.TB, mod func(*engine.Options, *ServerOptions)) *testEnv {
	t.Helper()
	return newTestEnvHooks(t, mod, nil)
}

// newTestEnvHooks is newTestEnv with hooks set on the server before it
// serves.
func newTestEnvHooks(t testing.TB, mod func(*engine.Options, *ServerOptions), hooks func(*Server)) *testEnv {
	t.Helper()
	eo := engine.Options{Dir: t.TempDir(), Durability: api.Always, Logger: discardLogger()}
	so := ServerOptions{Logger: discardLogger()}
	if mod != nil {
		mod(&eo, &so)
	}
	eng, err := engine.Open(eo)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	env := &testEnv{t: t, eng: eng, srv: NewServer(eng, so), addr: l.Addr().String(), done: make(chan error, 1)}
	if hooks != nil {
		hooks(env.srv)
	}
	go func() { env.done <- env.srv.Serve(l) }()
	t.Cleanup(func() {
		env.srv.Close()
		if err := <-env.done; !errors.Is(err, wire.ErrServerClosed) {
			t.Errorf("Serve returned %v; want ErrServerClosed", err)
		}
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return env
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// dial connects a client that is closed with the test.
func (env *testEnv) dial(opts client.ClientOptions) *client.Client {
	env.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, env.addr, opts)
	if err != nil {
		env.t.Fatalf("dial: %v", err)
	}
	env.t.Cleanup(func() { c.Close() })
	return c
}

// createStream creates an unlimited stream of n shards.
func (env *testEnv) createStream(c *client.Client, name string, shards int) *api.StreamInfo {
	env.t.Helper()
	q := ratelimit.Unlimited
	info, err := c.CreateStream(testCtx(env.t), api.CreateStreamInput{Name: name, ShardCount: shards, Quotas: &q})
	if err != nil {
		env.t.Fatalf("create stream %s: %v", name, err)
	}
	return info
}

// testCtx is a context that ends with the test (or after a minute).
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(testCtx(t))
}
