package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// TestHealthz_ReportsFailedShards: a shard whose files cannot be opened is
// named in a 503 /healthz with the reason, counted in /metrics, while the
// other shards go on serving.
func TestHealthz_ReportsFailedShards(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	ranges := api.EvenRanges(2)
	put := func(s *Server, shard int) error {
		c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.PutRecord(ctx, "orders", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[shard][0], HasExplicitHash: true})
		return err
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for shard := range 2 {
		if err := put(s, shard); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, s)

	// Replace shard 0's segment file with a directory: the shard cannot open.
	segs, _ := filepath.Glob(filepath.Join(dir, "streams", "*", api.ShardID(0), "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments of shard 0: %v", segs)
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(segs[0], 0o700); err != nil {
		t.Fatal(err)
	}

	s, err = Start(cfg)
	if err != nil {
		t.Fatalf("one broken shard kept the server from starting: %v", err)
	}
	defer shutdown(t, s)
	if err := put(s, 1); err != nil {
		t.Fatalf("put to the healthy shard: %v", err)
	}
	err = put(s, 0)
	if err == nil || strings.Contains(err.Error(), dir) {
		t.Fatalf("put to the broken shard: %v; want an internal failure that names no server path", err)
	}
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with a failed shard: %s %s; want 503", resp.Status, body)
	}
	var rep healthReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("/healthz body %s: %v", body, err)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].Stream != "orders" || rep.Faults[0].Shard != api.ShardID(0) || !strings.HasPrefix(rep.Faults[0].Reason, "open") {
		t.Fatalf("/healthz faults %+v; want shard 0 of orders failing to open", rep.Faults)
	}
	resp, err = http.Get("http://" + s.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `sluice_shard_faulted{reason="open",shard="shardId-000000000000",stream="orders"} 1`) {
		t.Fatalf("/metrics does not report the failed shard:\n%s", grepLines(string(metrics), "sluice_shard"))
	}
}

func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
