package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// streamJSON is the --json form of `stream describe`. Hash keys and
// sequence numbers are decimal strings, as in the Kinesis API, because they
// do not fit a JSON number.
type streamJSON struct {
	Name           string            `json:"name"`
	Status         string            `json:"status"`
	Mode           string            `json:"mode"`
	Created        time.Time         `json:"created"`
	RetentionHours int               `json:"retention_hours"`
	MaxRecordSize  int               `json:"max_record_size"`
	Durability     string            `json:"durability"` // "default": the server's --fsync
	Quotas         ratelimit.Limits  `json:"quotas"`     // per shard; 0 is unlimited
	EncryptionType string            `json:"encryption_type"`
	Tags           map[string]string `json:"tags"`
	OpenShards     int               `json:"open_shards"`
	Shards         []shardJSON       `json:"shards"`
	Consumers      []consumerJSON    `json:"consumers"`
	// HotKeys are the single hot keys the autoscaler of an ON_DEMAND
	// stream reports (see api.HotKey).
	HotKeys []hotKeyJSON `json:"hot_keys,omitempty"`
}

type hotKeyJSON struct {
	Shard         string    `json:"shard"`
	HashKey       string    `json:"hash_key"`
	Share         float64   `json:"share"`
	RecordsPerSec float64   `json:"records_per_sec"`
	BytesPerSec   float64   `json:"bytes_per_sec"`
	Since         time.Time `json:"since"`
}

type shardJSON struct {
	ID             string    `json:"id"`
	State          string    `json:"state"` // open or closed
	Parent         string    `json:"parent,omitempty"`
	AdjacentParent string    `json:"adjacent_parent,omitempty"`
	HashKeyStart   string    `json:"hash_key_start"`
	HashKeyEnd     string    `json:"hash_key_end"`
	Created        time.Time `json:"created"`
	// StartingSequence and EndingSequence are the shard's whole range, as
	// Kinesis reports it; EndingSequence is set once the shard is closed.
	StartingSequence string `json:"starting_sequence"`
	EndingSequence   string `json:"ending_sequence,omitempty"`
	// Records are the records retained; FirstSequence and LastSequence are
	// the oldest and newest of them (absent when there are none).
	Records       uint64 `json:"records"`
	FirstSequence string `json:"first_sequence,omitempty"`
	LastSequence  string `json:"last_sequence,omitempty"`
}

type consumerJSON struct {
	Name    string    `json:"name"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
}

func streamToJSON(info *api.StreamInfo, hot []api.HotKey) streamJSON {
	out := streamJSON{
		Name: info.Name, Status: string(info.Status), Mode: string(info.Mode), Created: info.Created.UTC(),
		RetentionHours: info.RetentionHours, MaxRecordSize: info.MaxRecordSize,
		Durability: durabilityName(info.Durability), Quotas: info.Quotas, EncryptionType: info.EncryptionType,
		Tags: info.Tags, OpenShards: info.OpenShardCount(), Shards: []shardJSON{}, Consumers: []consumerJSON{},
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	for _, s := range info.Shards {
		sj := shardJSON{
			ID: s.ID, State: shardState(s), Parent: s.Parent, AdjacentParent: s.AdjacentParent,
			HashKeyStart: s.HashStart.String(), HashKeyEnd: s.HashEnd.String(), Created: s.Created.UTC(),
			StartingSequence: s.StartingSeq.String(),
		}
		if s.Closed {
			sj.EndingSequence = s.EndingSeq.String()
		}
		if first, last, n := retained(s); n > 0 {
			sj.Records, sj.FirstSequence, sj.LastSequence = n, first.String(), last.String()
		}
		out.Shards = append(out.Shards, sj)
	}
	for _, c := range info.Consumers {
		out.Consumers = append(out.Consumers, consumerJSON{Name: c.Name, Status: c.Status, Created: c.Created.UTC()})
	}
	for _, k := range hot {
		out.HotKeys = append(out.HotKeys, hotKeyJSON{Shard: k.Shard, HashKey: k.HashKey.String(), Share: k.Share,
			RecordsPerSec: k.RecordsPerSec, BytesPerSec: k.BytesPerSec, Since: k.Since.UTC()})
	}
	return out
}

// retained returns the sequence numbers of a shard's oldest and newest
// retained records and how many it retains.
func retained(s api.ShardInfo) (first, last api.SeqNum, n uint64) {
	if s.NextSeq <= s.FirstSeq {
		return first, last, 0
	}
	first, last = s.StartingSeq, s.StartingSeq
	first.Seq, last.Seq = s.FirstSeq, s.NextSeq-1
	return first, last, s.NextSeq - s.FirstSeq
}

func shardState(s api.ShardInfo) string {
	if s.Closed {
		return "closed"
	}
	return "open"
}

func durabilityName(d api.Durability) string {
	if d == api.DurabilityDefault {
		return "default"
	}
	return d.String()
}

// writeDescribe writes the text form of `stream describe`: the settings,
// then a table of shards, then the hot keys of an ON_DEMAND stream.
func writeDescribe(w io.Writer, info *api.StreamInfo, hot []api.HotKey) error {
	open := info.OpenShardCount()
	durability := durabilityName(info.Durability)
	if durability == "default" {
		durability = "the server's (--fsync)"
	}
	consumers := make([]string, 0, len(info.Consumers))
	for _, c := range info.Consumers {
		consumers = append(consumers, fmt.Sprintf("%s (%s)", c.Name, c.Status))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"Stream", info.Name},
		{"Status", string(info.Status)},
		{"Mode", string(info.Mode)},
		{"Shards", fmt.Sprintf("%d open, %d closed", open, len(info.Shards)-open)},
		{"Retention", fmt.Sprintf("%d hours", info.RetentionHours)},
		{"Durability", durability},
		{"Quotas", formatQuotas(info.Quotas)},
		{"Max record", formatBytes(int64(info.MaxRecordSize))},
		{"Encryption", info.EncryptionType},
		{"Created", info.Created.UTC().Format(time.RFC3339)},
		{"Tags", formatTags(info.Tags)},
	}
	if len(consumers) > 0 {
		rows = append(rows, [2]string{"Consumers", strings.Join(consumers, ", ")})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tPARENT\tADJACENT PARENT\tHASH KEY START\tHASH KEY END\tRECORDS\tFIRST SEQUENCE\tLAST SEQUENCE")
	for _, s := range info.Shards {
		first, last, n := retained(s)
		firstS, lastS := "-", "-"
		if n > 0 {
			firstS, lastS = first.String(), last.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, shardState(s), dash(s.Parent), dash(s.AdjacentParent),
			s.HashStart, s.HashEnd, n, firstS, lastS)
	}
	if err := tw.Flush(); err != nil || len(hot) == 0 {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Hot keys (one key keeps its shard over quota; no split can spread it: spread the key on the producer side):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tHASH KEY\tSHARE\tSHARD RECORDS/S\tSHARD BYTES/S\tHOT SINCE")
	for _, k := range hot {
		fmt.Fprintf(tw, "%s\t%s\t%.0f%%\t%.0f\t%s/s\t%s\n", k.Shard, k.HashKey, 100*k.Share, k.RecordsPerSec,
			formatBytes(int64(k.BytesPerSec)), k.Since.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// writeShardRanges lists shards with their hash key ranges and parents, as
// after a reshard.
func writeShardRanges(w io.Writer, shards []api.ShardInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range shards {
		parents := s.Parent
		if s.AdjacentParent != "" {
			parents += " + " + s.AdjacentParent
		}
		fmt.Fprintf(tw, "  %s\thash keys %s..%s\tparent %s\n", s.ID, s.HashStart, s.HashEnd, dash(parents))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatQuotas names the quota presets and spells out anything else.
func formatQuotas(l ratelimit.Limits) string {
	switch l {
	case ratelimit.Kinesis:
		return "kinesis (per shard: 1 MiB/s and 1000 records/s in; 2 MiB/s and 5 reads/s out; 2 MiB/s per fan-out consumer)"
	case ratelimit.Unlimited:
		return "unlimited"
	}
	rate := func(v int64, unit string) string {
		if v == 0 {
			return "unlimited"
		}
		if unit == "B/s" {
			return formatBytes(v) + "/s"
		}
		return fmt.Sprintf("%d %s", v, unit)
	}
	return fmt.Sprintf("per shard: in %s and %s; out %s and %s; %s per fan-out consumer",
		rate(l.WriteBytesPerSec, "B/s"), rate(l.WriteRecordsPerSec, "records/s"),
		rate(l.ReadBytesPerSec, "B/s"), rate(l.ReadCallsPerSec, "reads/s"), rate(l.ConsumerBytesPerSec, "B/s"))
}

// formatBytes writes a byte count in the largest binary unit that divides
// it, or in bytes.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
