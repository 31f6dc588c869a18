package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// TestServer_AutoscaleHotKeyInMetrics: one partition key offered at three
// shards' worth to an ON_DEMAND stream is reported in /metrics (the key,
// and a hot_key decision) and by the binary protocol's HotKeys (which
// `sluice stream describe` shows), and no split is counted.
func TestServer_AutoscaleHotKeyInMetrics(t *testing.T) {
	var (
		mu  sync.Mutex // guards now
		now = time.Unix(1_800_000_000, 0)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := Start(Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "kinesis", Fsync: "none",
		AutoscaleWindow: Duration(time.Second), AutoscaleMergeWindow: Duration(time.Hour),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	ctx := context.Background()
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "hot", Mode: api.OnDemand}); err != nil {
		t.Fatal(err)
	}
	recs := make([]api.PutRecord, 500)
	res := make([]api.PutResult, 500)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte("tenant-42"), Data: []byte("x")}
	}
	for sec := 0; sec < 3; sec++ {
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
		for i := 0; i < 6; i++ {
			if _, err := c.PutRecords(ctx, "hot", recs, res); err != nil {
				t.Fatal(err)
			}
		}
		s.eng.AutoscaleNow()
	}
	hot, err := c.HotKeys(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if len(hot) != 1 || hot[0].HashKey != api.HashPartitionKey([]byte("tenant-42")) || hot[0].Share < 0.99 || hot[0].RecordsPerSec < 2000 {
		t.Errorf("HotKeys over the binary protocol: %+v; want tenant-42's hash at nearly all of its shard's 3000 records/s", hot)
	}
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := string(b)
	hash := api.HashPartitionKey([]byte("tenant-42")).String()
	for _, want := range []string{
		`sluice_autoscale_hot_key{hash_key="` + hash + `",shard="shardId-`,
		`sluice_autoscale_decisions_total{decision="hot_key"} 1`,
		`sluice_autoscale_decisions_total{decision="split"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
