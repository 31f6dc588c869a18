package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

func sampleStream() *api.StreamInfo {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	mid := api.HashKey{Hi: 1 << 63}
	seq := func(shard uint32, n uint64) api.SeqNum { return api.SeqNum{Incarnation: 5, Shard: shard, Seq: n} }
	return &api.StreamInfo{
		Name: "orders", Incarnation: 5, Status: api.StatusActive, Mode: api.Provisioned, Created: created,
		RetentionHours: 48, MaxRecordSize: 1 << 20, Quotas: ratelimit.Kinesis, EncryptionType: "NONE",
		Tags: map[string]string{"env": "prod"},
		Shards: []api.ShardInfo{
			{Index: 0, ID: "shardId-000000000000", HashStart: api.HashKey{}, HashEnd: api.MaxHashKey,
				StartingSeq: seq(0, 0), EndingSeq: seq(0, 9), Closed: true, Created: created, FirstSeq: 0, NextSeq: 10},
			{Index: 1, ID: "shardId-000000000001", Parent: "shardId-000000000000", HashStart: api.HashKey{}, HashEnd: mid.Dec(),
				StartingSeq: seq(1, 0), Created: created, FirstSeq: 0, NextSeq: 0},
			{Index: 2, ID: "shardId-000000000002", Parent: "shardId-000000000000", HashStart: mid, HashEnd: api.MaxHashKey,
				StartingSeq: seq(2, 0), Created: created, FirstSeq: 3, NextSeq: 7},
		},
	}
}

func TestWriteDescribe_TableOfShards(t *testing.T) {
	var out bytes.Buffer
	if err := writeDescribe(&out, sampleStream(), nil); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Stream:      orders", "Shards:      2 open, 1 closed", "Retention:   48 hours", "Quotas:      kinesis",
		"Max record:  1 MiB", `Tags:        env="prod"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("describe output lacks %q:\n%s", want, text)
		}
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "shardId-") {
			rows[f[0]] = f
		}
	}
	want := map[string][]string{
		"shardId-000000000000": {"shardId-000000000000", "closed", "-", "-", "0", api.MaxHashKey.String(), "10",
			api.SeqNum{Incarnation: 5}.String(), api.SeqNum{Incarnation: 5, Seq: 9}.String()},
		"shardId-000000000001": {"shardId-000000000001", "open", "shardId-000000000000", "-", "0",
			api.HashKey{Hi: 1 << 63}.Dec().String(), "0", "-", "-"},
		"shardId-000000000002": {"shardId-000000000002", "open", "shardId-000000000000", "-", api.HashKey{Hi: 1 << 63}.String(),
			api.MaxHashKey.String(), "4", api.SeqNum{Incarnation: 5, Shard: 2, Seq: 3}.String(), api.SeqNum{Incarnation: 5, Shard: 2, Seq: 6}.String()},
	}
	for id, w := range want {
		if strings.Join(rows[id], " ") != strings.Join(w, " ") {
			t.Errorf("row of %s:\n got %q\nwant %q", id, rows[id], w)
		}
	}
}

func TestStreamToJSON_Fields(t *testing.T) {
	var out bytes.Buffer
	if err := writeJSON(&out, streamToJSON(sampleStream(), nil)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name       string `json:"name"`
		OpenShards int    `json:"open_shards"`
		Durability string `json:"durability"`
		Quotas     struct {
			WriteRecords int `json:"write_records_per_sec"`
		} `json:"quotas"`
		Shards []map[string]any `json:"shards"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("describe --json output is not JSON: %v\n%s", err, out.String())
	}
	if got.Name != "orders" || got.OpenShards != 2 || got.Durability != "default" || got.Quotas.WriteRecords != 1000 || len(got.Shards) != 3 {
		t.Fatalf("decoded %+v", got)
	}
	s0, s1, s2 := got.Shards[0], got.Shards[1], got.Shards[2]
	if s0["state"] != "closed" || s0["ending_sequence"] != (api.SeqNum{Incarnation: 5, Seq: 9}).String() || s0["hash_key_end"] != api.MaxHashKey.String() {
		t.Errorf("shard 0: %v", s0)
	}
	if s1["parent"] != "shardId-000000000000" || s1["records"] != 0.0 || s1["first_sequence"] != nil || s1["ending_sequence"] != nil {
		t.Errorf("shard 1 (open, empty): %v", s1)
	}
	if s2["records"] != 4.0 || s2["first_sequence"] != (api.SeqNum{Incarnation: 5, Shard: 2, Seq: 3}).String() {
		t.Errorf("shard 2: %v", s2)
	}
}

func TestFormatQuotas_PresetsAndCustom(t *testing.T) {
	if got := formatQuotas(ratelimit.Unlimited); got != "unlimited" {
		t.Errorf("unlimited: %q", got)
	}
	if got := formatQuotas(ratelimit.Kinesis); !strings.HasPrefix(got, "kinesis") {
		t.Errorf("kinesis: %q", got)
	}
	custom := ratelimit.Limits{WriteBytesPerSec: 2 << 20, WriteRecordsPerSec: 500}
	want := "per shard: in 2 MiB/s and 500 records/s; out unlimited and unlimited; unlimited per fan-out consumer"
	if got := formatQuotas(custom); got != want {
		t.Errorf("custom: %q; want %q", got, want)
	}
}

func TestWriteDescribe_HotKeys(t *testing.T) {
	info := sampleStream()
	info.Mode = api.OnDemand
	hot := []api.HotKey{{Stream: "orders", Shard: "shardId-000000000002", HashKey: api.HashKey{Hi: 1<<63 + 5},
		Share: 0.97, RecordsPerSec: 3000, BytesPerSec: 3 << 20, Since: time.Unix(1_800_000_000, 0)}}
	var out bytes.Buffer
	if err := writeDescribe(&out, info, hot); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	row := "shardId-000000000002  " + api.HashKey{Hi: 1<<63 + 5}.String() + "  97%    3000             3 MiB/s"
	if !strings.Contains(text, "Hot keys (one key keeps its shard over quota") || !strings.Contains(text, row) {
		t.Errorf("describe output lacks the hot key row %q:\n%s", row, text)
	}
	out.Reset()
	if err := writeJSON(&out, streamToJSON(info, hot)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"hash_key": "`+api.HashKey{Hi: 1<<63 + 5}.String()+`"`) {
		t.Errorf("JSON lacks the hot key:\n%s", out.String())
	}
}
