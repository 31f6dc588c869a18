package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

func TestServer_HealthzMetricsAndWire(t *testing.T) {
	s := StartTest(t)
	ctx := context.Background()
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, "orders", api.PutRecord{Key: []byte("k"), Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + s.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if got := get("/healthz"); got != "ok\n" {
		t.Fatalf("/healthz = %q", got)
	}
	m := get("/metrics")
	for _, want := range []string{
		`sluice_shard_incoming_records_total{shard="shardId-00000000000`,
		`sluice_fsync_seconds_count`,
		`sluice_connections{door="wire"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(m, `stream="orders"`) {
		t.Error("/metrics has no sample for stream orders")
	}
}

func TestServer_RejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{DataDir: t.TempDir(), Fsync: "sometimes", Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0"},
		{DataDir: t.TempDir(), Quotas: "generous", Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0"},
		{DataDir: t.TempDir(), Listen: "not-an-address", HTTP: "127.0.0.1:0"},
	} {
		if s, err := Start(cfg); err == nil {
			s.Shutdown(context.Background())
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}
