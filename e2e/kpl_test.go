//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/kpl"
)

// aggRecord is a record as e2e/js/kpl.mjs reads and writes it: a user
// record, or a Kinesis record carrying an aggregate.
type aggRecord struct {
	PartitionKey      string  `json:"partitionKey"`
	ExplicitHashKey   *string `json:"explicitHashKey,omitempty"`
	SequenceNumber    string  `json:"sequenceNumber,omitempty"`
	SubSequenceNumber *int    `json:"subSequenceNumber,omitempty"`
	Data              []byte  `json:"data"`
}

// kplNode runs `node e2e/js/kpl.mjs mode` on in, skipping the test when
// node or the aws-kinesis-agg module is missing.
func kplNode(t *testing.T, mode string, in []aggRecord) []aggRecord {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "aws-kinesis-agg")); err != nil {
		t.Skip("aws-kinesis-agg is not installed in e2e/js (make e2e-deps installs it)")
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("js", "kpl.mjs"), mode)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node kpl.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	var recs []aggRecord
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("node kpl.mjs %s printed %q: %v", mode, out, err)
	}
	return recs
}

// userRecords makes n user records with distinct keys, data of 0 to 300
// random bytes, and every third one an explicit hash key. No key is a
// decimal below 2^32-1 (see e2e/js/kpl.mjs on the module's tables).
func userRecords(rng *rand.Rand, n int) []aggRecord {
	recs := make([]aggRecord, n)
	for i := range recs {
		data := make([]byte, rng.IntN(301))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		recs[i] = aggRecord{PartitionKey: fmt.Sprintf("user-%d-%x", i, rng.Uint32()), Data: data}
		if i%3 == 0 {
			ehk := fmt.Sprintf("%d%020d", 1+rng.IntN(30), rng.Uint64()%1e19)
			recs[i].ExplicitHashKey = &ehk
		}
	}
	return recs
}

// sdkRecords reads every record of stream, shard by shard, with the
// unmodified SDK's GetRecords.
func sdkRecords(t *testing.T, c *sdk.Client, stream string) []aggRecord {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []aggRecord
	for _, s := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId,
			ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			res, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				out = append(out, aggRecord{PartitionKey: *r.PartitionKey, SequenceNumber: *r.SequenceNumber, Data: r.Data})
			}
			if len(res.Records) == 0 || aws.ToInt64(res.MillisBehindLatest) == 0 && len(res.Records) < 10000 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// sameUserRecords checks that got holds want's user records, in order per
// partition key (each key here is one record's).
func sameUserRecords(t *testing.T, got, want []aggRecord) {
	t.Helper()
	key := func(r aggRecord) string {
		ehk := ""
		if r.ExplicitHashKey != nil {
			ehk = *r.ExplicitHashKey
		}
		return r.PartitionKey + "\x00" + ehk + "\x00" + base64.StdEncoding.EncodeToString(r.Data)
	}
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = key(got[i])
	}
	for i := range want {
		w[i] = key(want[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	if len(g) != len(w) {
		t.Fatalf("%d user records, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("user records differ: got %q, want %q", g[i], w[i])
		}
	}
}

// TestEndToEnd_KPLInterop: aggregates made by AWS Labs' aws-kinesis-agg
// and put through the Kinesis API de-aggregate in sluice (kpl.Deaggregate
// on what the SDK reads, and sluice get) to the user records given to the
// module; aggregates made by sluice (put --aggregate, and kpl.Aggregator
// with explicit hash keys, put through the SDK) de-aggregate in the module
// to the user records put.
func TestEndToEnd_KPLInterop(t *testing.T) {
	kplNode(t, "aggregate", []aggRecord{}) // skips without node or the module
	bin := build(t)
	srv := startServer(t, bin, t.TempDir(), "--fsync", "none")
	c := sdkClient(srv)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 4))

	t.Run("from aws-kinesis-agg", func(t *testing.T) {
		if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("theirs"), ShardCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		users := userRecords(rng, 2000)
		var encoded []aggRecord
		// Two batches: the module makes one aggregate of each (they fit in 1 MiB).
		encoded = append(encoded, kplNode(t, "aggregate", users[:1000])...)
		encoded = append(encoded, kplNode(t, "aggregate", users[1000:])...)
		if len(encoded) != 2 {
			t.Fatalf("the module made %d aggregates of 2 batches", len(encoded))
		}
		for _, e := range encoded {
			if _, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("theirs"), PartitionKey: aws.String(e.PartitionKey),
				ExplicitHashKey: e.ExplicitHashKey, Data: e.Data}); err != nil {
				t.Fatal(err)
			}
		}
		// kpl.Deaggregate on what the SDK reads: the records in order.
		var got []aggRecord
		for _, r := range sdkRecords(t, c, "theirs") {
			if !kpl.Deaggregate(r.Data, func(sub int, u kpl.Record) bool {
				g := aggRecord{PartitionKey: string(u.PartitionKey), Data: bytes.Clone(u.Data)}
				if u.ExplicitHashKey != nil {
					ehk := string(u.ExplicitHashKey)
					g.ExplicitHashKey = &ehk
				}
				got = append(got, g)
				return true
			}) {
				t.Fatalf("kpl.Deaggregate refused a record the module made (%d bytes)", len(r.Data))
			}
		}
		sameUserRecords(t, got, users)
		byKey := map[string]int{}
		for i, u := range users {
			byKey[u.PartitionKey] = i
		}
		for i := 1; i < len(got); i++ {
			if a, b := byKey[got[i-1].PartitionKey], byKey[got[i].PartitionKey]; b != a+1 && b != 0 && b != 1000 {
				t.Fatalf("user record %d follows %d in its aggregate", b, a)
			}
		}
		// sluice get: the same, with sub-sequence numbers.
		out := mustSluice(t, bin, srv, nil, "get", "theirs", "-o", "json")
		var printed []aggRecord
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 4<<20)
		subs := map[string]bool{}
		for sc.Scan() {
			var l struct {
				Sequence    string  `json:"sequence"`
				Subsequence *int    `json:"subsequence"`
				Key         string  `json:"key"`
				Data        *string `json:"data"`
				DataBase64  []byte  `json:"data_base64"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l.Subsequence == nil {
				t.Fatalf("get line %q has no subsequence", sc.Text())
			}
			pos := fmt.Sprint(l.Sequence, "/", *l.Subsequence)
			if subs[pos] {
				t.Fatalf("two user records at %s", pos)
			}
			subs[pos] = true
			data := l.DataBase64
			if l.Data != nil {
				data = []byte(*l.Data)
			}
			printed = append(printed, aggRecord{PartitionKey: l.Key, Data: data})
		}
		for i := range users {
			users[i].ExplicitHashKey = nil // get -o json does not print explicit hash keys
		}
		sameUserRecords(t, printed, users)
	})

	t.Run("to aws-kinesis-agg", func(t *testing.T) {
		mustSluice(t, bin, srv, nil, "stream", "create", "ours", "--shards", "2")
		var lines []string
		for i := range 3000 {
			lines = append(lines, fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%97)))
		}
		mustSluice(t, bin, srv, []byte(strings.Join(lines, "\n")+"\n"), "put", "ours", "--aggregate")
		// And aggregates with explicit hash keys, made by kpl.Aggregator.
		users := userRecords(rng, 500)
		a := kpl.NewAggregator(50 << 10)
		put := func(agg kpl.Aggregate) {
			if agg.Data == nil {
				return
			}
			in := &sdk.PutRecordInput{StreamName: aws.String("ours"), PartitionKey: aws.String(string(agg.PartitionKey)), Data: bytes.Clone(agg.Data)}
			if agg.ExplicitHashKey != nil {
				in.ExplicitHashKey = aws.String(string(agg.ExplicitHashKey))
			}
			if _, err := c.PutRecord(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users {
			r := kpl.Record{PartitionKey: []byte(u.PartitionKey), Data: u.Data}
			if u.ExplicitHashKey != nil {
				r.ExplicitHashKey = []byte(*u.ExplicitHashKey)
			}
			full, err := a.Add(r)
			if err != nil {
				t.Fatal(err)
			}
			put(full)
		}
		put(a.Flush())

		stored := sdkRecords(t, c, "ours")
		if len(stored) > 100 {
			t.Fatalf("%d records stored for 3,500 user records: they were not aggregated", len(stored))
		}
		got := kplNode(t, "deaggregate", stored)
		var fromLines, fromAggregator []aggRecord
		for _, g := range got {
			if g.SubSequenceNumber == nil {
				t.Fatalf("the module read a record of sluice's as no aggregate: %q", g.Data)
			}
			if strings.HasPrefix(g.PartitionKey, "user-") {
				fromAggregator = append(fromAggregator, g)
			} else {
				fromLines = append(fromLines, g)
			}
		}
		// The module reports explicit_hash_key_table[0] for a user record
		// without an explicit hash key (protobufjs reads the absent index as
		// 0): compare explicit hash keys only where one was given.
		hadEHK := map[string]bool{}
		for _, u := range users {
			hadEHK[u.PartitionKey] = u.ExplicitHashKey != nil
		}
		for i := range fromAggregator {
			if !hadEHK[fromAggregator[i].PartitionKey] {
				fromAggregator[i].ExplicitHashKey = nil
			}
		}
		sameUserRecords(t, fromAggregator, users)
		var gotLines []string
		for _, g := range fromLines {
			gotLines = append(gotLines, string(g.Data))
		}
		slices.Sort(gotLines)
		slices.Sort(lines)
		if !slices.Equal(gotLines, lines) {
			t.Fatalf("the module read %d lines of put --aggregate, not the %d put", len(gotLines), len(lines))
		}
	})
}
