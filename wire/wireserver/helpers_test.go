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
	return startEnv(t, mod, nil)
}

// newServerEnv is newTestEnv adjusting only the server's options.
func newServerEnv(t testing.TB, mod func(*ServerOptions)) *testEnv {
	t.Helper()
	return newTestEnvHooks(t, mod, nil)
}

// newTestEnvHooks is newServerEnv with hooks set on the server before it
// serves.
func newTestEnvHooks(t testing.TB, mod func(*ServerOptions), hooks func(*Server)) *testEnv {
	t.Helper()
	return startEnv(t, func(_ *engine.Options, so *ServerOptions) {
		if mod != nil {
			mod(so)
		}
	}, hooks)
}

// startEnv starts an engine and a server: mod adjusts the options, hooks
// are set on the server before it serves.
func startEnv(t testing.TB, mod func(*engine.Options, *ServerOptions), hooks func(*Server)) *testEnv {
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
	l := listenLoopback(t)
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

// newDialedEnv is newTestEnv with default options and a client dialled to
// it.
func newDialedEnv(t testing.TB) (*testEnv, *client.Client) {
	t.Helper()
	env := newTestEnv(t, nil)
	return env, env.dial(client.ClientOptions{})
}

// newStreamEnv is newDialedEnv with an unlimited stream "s" of n shards.
func newStreamEnv(t testing.TB, shards int) (*testEnv, *client.Client) {
	t.Helper()
	env, c := newDialedEnv(t)
	env.createStream(c, "s", shards)
	return env, c
}

// listenLoopback listens on a free loopback port until the test ends.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
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

// subscribeLatest subscribes to shard 0 of stream "s" from LATEST.
func subscribeLatest(t *testing.T, c *client.Client) *client.Subscription {
	t.Helper()
	sub, err := c.SubscribeShard(testCtx(t), "s", api.ShardID(0), api.IteratorSpec{Type: api.Latest}, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("SubscribeShard: %v", err)
	}
	return sub
}

// eachRecord calls fn (if not nil) with every record of a shard, from
// TRIM_HORIZON to the end, and returns how many there were.
func eachRecord(t testing.TB, c *client.Client, stream string, shard int, fn func(client.Record)) int {
	t.Helper()
	pos, err := c.GetIterator(testCtx(t), stream, api.ShardID(shard), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatalf("GetIterator: %v", err)
	}
	n := 0
	for {
		res, err := c.Read(testCtx(t), pos, 0, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(res.Records) == 0 {
			return n
		}
		for _, r := range res.Records {
			if fn != nil {
				fn(r)
			}
		}
		n += len(res.Records)
		pos = res.Next
	}
}

// recordCount is the number of records in shard 0 of a stream.
func recordCount(t testing.TB, c *client.Client, stream string) int {
	return eachRecord(t, c, stream, 0, nil)
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
