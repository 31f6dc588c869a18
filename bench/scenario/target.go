package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/server"
)

// target is the server a scenario loads: one it started in-process, or a
// running one at an address.
type target struct {
	opts     Options
	srv      *server.Server // nil for a remote server
	dir      string         // the in-process server's data directory
	tempDir  bool           // dir was made here and is removed afterwards
	addr     string         // binary protocol address
	endpoint string         // Kinesis API URL
	admin    *client.Client // for setup and cleanup (wire API only)
}

// openTarget starts the in-process server or connects to the running one.
func openTarget(ctx context.Context, o Options) (*target, error) {
	t := &target{opts: o, addr: o.Addr, endpoint: o.Endpoint, dir: o.DataDir}
	if o.InProc {
		if t.dir == "" {
			d, err := os.MkdirTemp("", "sluice-bench-")
			if err != nil {
				return nil, fmt.Errorf("make the in-process server's data directory: %w", err)
			}
			t.dir, t.tempDir = d, true
		}
		srv, err := server.Start(server.Config{
			DataDir: t.dir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
			Fsync: o.Fsync, Quotas: o.Quotas, NoCommitLog: o.NoCommitLog,
			Logger: slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.removeDir()
			return nil, fmt.Errorf("start the in-process server: %w", err)
		}
		t.srv = srv
		t.addr = srv.WireAddr().String()
		if t.endpoint == "" {
			t.endpoint = "http://" + srv.HTTPAddr().String()
		}
		fmt.Fprintf(o.Log, "in-process server on %s (Kinesis API %s), data in %s\n", t.addr, t.endpoint, t.dir)
	}
	if o.API == APIWire {
		c, err := t.dial(ctx)
		if err != nil {
			t.close()
			return nil, err
		}
		t.admin = c
	}
	return t, nil
}

// dial opens a binary protocol connection to the server.
func (t *target) dial(ctx context.Context) (*client.Client, error) {
	c, err := client.Dial(ctx, t.addr, client.ClientOptions{Credentials: t.opts.Credentials, TLS: t.opts.TLS})
	if err != nil {
		return nil, fmt.Errorf("connect to the server (is sluiced running at %s? --addr picks another, --inproc starts one here): %w", t.addr, err)
	}
	return c, nil
}

// dialN opens n connections.
func (t *target) dialN(ctx context.Context, n int) ([]*client.Client, error) {
	cs := make([]*client.Client, 0, n)
	for range n {
		c, err := t.dial(ctx)
		if err != nil {
			closeAll(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// baselineDir is where the baseline measures the disk: the server's data
// directory when it runs here, else the current directory.
func (t *target) baselineDir() string {
	if t.dir != "" {
		return t.dir
	}
	return "."
}

// createStream creates a stream of shards shards with the options' fsync
// mode and the given quotas, and fails clearly when the name is taken.
func (t *target) createStream(ctx context.Context, name string, shards int, quotas ratelimit.Limits) (*api.StreamInfo, error) {
	in := api.CreateStreamInput{Name: name, ShardCount: shards, Quotas: &quotas}
	if t.opts.Fsync != "" {
		d, err := api.ParseDurability(t.opts.Fsync)
		if err != nil {
			return nil, err
		}
		in.Durability = d
	}
	info, err := t.admin.CreateStream(ctx, in)
	if errors.Is(err, api.ErrInUse) {
		return nil, fmt.Errorf("%w: stream %s exists; name a new one with --stream, or delete it", ErrUsage, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	fmt.Fprintf(t.opts.Log, "created stream %s: %d shard(s), fsync %s, quotas %s\n", name, shards, orDefault(t.opts.Fsync), quotaName(quotas))
	return info, nil
}

// deleteStream deletes a stream the scenario created, unless it is kept.
// It runs after the load, even an interrupted one, on its own deadline.
func (t *target) deleteStream(name string) error {
	if t.opts.Keep || t.admin == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.admin.DeleteStream(ctx, name, true); err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("delete stream %s (it stays; delete it by hand): %w", name, err)
	}
	return nil
}

// close shuts the in-process server down and removes its temporary data.
func (t *target) close() error {
	var errs []error
	if t.admin != nil {
		t.admin.Close()
	}
	if t.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := t.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut the in-process server down: %w", err))
		}
	}
	errs = append(errs, t.removeDir())
	return errors.Join(errs...)
}

func (t *target) removeDir() error {
	if !t.tempDir || t.opts.Keep {
		return nil
	}
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("remove %s: %w", t.dir, err)
	}
	return nil
}

func orDefault(s string) string {
	if s == "" {
		return "the server's default"
	}
	return s
}

func quotaName(q ratelimit.Limits) string {
	if name := q.PresetName(); name != "" {
		return name
	}
	return fmt.Sprintf("%+v", q)
}

// quotasOf returns the limits the options name.
func quotasOf(name string) ratelimit.Limits {
	if name == "kinesis" {
		return ratelimit.Kinesis
	}
	return ratelimit.Unlimited
}
