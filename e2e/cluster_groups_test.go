//go:build unix

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestCluster_ConsumerGroupAcrossNodes runs three `sluice consume` members
// of one group, each attached to a different node of a three-node cluster,
// while records are put through yet another node; it kills one member with
// SIGKILL and checks that the others take its shards over: every record is
// printed, and every node describes the same checkpoints once the members
// have left.
func TestCluster_ConsumerGroupAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bin := build(t)
	c := startCluster(t, bin, 3)
	mustSluice(t, bin, c.node(1), nil, "stream", "create", "s", "--shards", "4")
	sent := map[string]bool{}
	next := 0
	put := func(via uint64, n int) {
		var in bytes.Buffer
		for i := next; i < next+n; i++ {
			id := fmt.Sprintf("rec-%06d", i)
			sent[id] = true
			in.WriteString(id + "\n")
		}
		next += n
		mustSluice(t, bin, c.node(via), in.Bytes(), "put", "s")
	}
	put(2, 300)
	members := []*consumer{startConsumer(t, bin, c.node(1), "m1"), startConsumer(t, bin, c.node(2), "m2"),
		startConsumer(t, bin, c.node(3), "m3")}
	deadline := time.Now().Add(60 * time.Second)
	for len(members[2].printed()) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("m3 printed nothing in 60 s\n%s", members[2].stderr.String())
		}
		put(3, 50)
	}
	if err := members[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-members[2].exited
	for range 4 {
		put(1, 50)
	}
	printed := func() map[string][]string {
		by := map[string][]string{}
		for _, m := range members {
			for _, r := range m.printed() {
				by[*r.Data] = append(by[*r.Data], m.name)
			}
		}
		return by
	}
	missing := func() int {
		by, n := printed(), 0
		for id := range sent {
			if len(by[id]) == 0 {
				n++
			}
		}
		return n
	}
	// m3's failover time is 3 s: its shards go to m1 and m2 after it.
	if !pollUntil(60*time.Second, func() bool { return missing() == 0 }) {
		t.Fatalf("%d of %d records never printed\nm1: %s\nm2: %s", missing(), len(sent), members[0].stderr.String(), members[1].stderr.String())
	}
	for id, who := range printed() {
		if len(who) > 1 && !strings.Contains(strings.Join(who, ","), "m3") {
			t.Errorf("%s printed by %v: only the killed member's last records may repeat", id, who)
		}
	}
	for _, m := range members[:2] {
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-m.exited
		if m.err != nil {
			t.Errorf("%s exited with %v on SIGTERM\n%s", m.name, m.err, m.stderr.String())
		}
	}
	// Every node describes the same checkpoints (each answers from its
	// own copy, which may be a change behind for a moment).
	var want string
	same := pollUntil(20*time.Second, func() bool {
		want = cps(t, mustSluice(t, bin, c.node(1), nil, "group", "describe", "s", "g", "--json"))
		for _, id := range []uint64{2, 3} {
			if cps(t, mustSluice(t, bin, c.node(id), nil, "group", "describe", "s", "g", "--json")) != want {
				return false
			}
		}
		return true
	})
	if !same {
		for _, id := range c.ids {
			t.Logf("node %d:\n%s", id, cps(t, mustSluice(t, bin, c.node(id), nil, "group", "describe", "s", "g", "--json")))
		}
		t.Fatal("the nodes describe different checkpoints")
	}
	if !strings.Contains(want, "Whole:true") {
		t.Fatalf("no checkpoint was made:\n%s", want)
	}
	for _, id := range c.ids {
		if out := mustSluice(t, bin, c.node(id), nil, "group", "list", "s"); string(out) != "g\n" {
			t.Fatalf("group list on node %d: %q", id, out)
		}
	}
}

// segmentsWith returns the segment files under dir that hold marker, and
// how many segment files there are.
func segmentsWith(t *testing.T, dir string, marker []byte) (found []string, segs int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(path, ".seg") {
			return err
		}
		segs++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, segs
}

// TestCluster_EncryptionAcrossNodes starts a stream's encryption through
// node 1's Kinesis door under the managed default key, puts a marker
// through node 2 and reads it back through node 3: every node's segments
// hold it sealed, and every node's door returns it.
func TestCluster_EncryptionAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bin := build(t)
	// Unlimited: the reads below poll every node faster than a shard's
	// 5 reads/s.
	c := startCluster(t, bin, 3, "--quotas", "unlimited")
	ctx := context.Background()
	client := func(id uint64) *sdk.Client { return clusterClient(c.http[id]) }
	stream := aws.String("vault")
	if _, err := client(1).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	const control = "sluice-cluster-control-71c2"
	if _, err := client(2).PutRecord(ctx, &sdk.PutRecordInput{StreamName: stream, Data: []byte(control), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client(1).StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: stream,
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatalf("StartStreamEncryption through node 1: %v", err)
	}
	// A put is sealed on every replica, or on none, as the node that
	// takes it sees the stream: node 2 has applied the change once it
	// describes the stream encrypted.
	if !pollUntil(20*time.Second, func() bool {
		d, err := client(2).DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: stream})
		return err == nil && d.StreamDescriptionSummary.EncryptionType == sdktypes.EncryptionTypeKms
	}) {
		t.Fatal("node 2 never describes the stream encrypted")
	}
	const marker = "sluice-cluster-marker-5d0e"
	// (PutRecord's EncryptionType comes from the door's cache of the
	// stream, which may be a second stale; GetRecords says how each record
	// is stored.)
	if _, err := client(2).PutRecord(ctx, &sdk.PutRecordInput{StreamName: stream, Data: []byte(marker), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		var got []sdktypes.Record
		var lastErr error
		ok := pollUntil(20*time.Second, func() bool {
			it, err := client(id).GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: stream,
				ShardId: aws.String("shardId-000000000000"), ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				lastErr = err
				return false
			}
			got = nil
			iter := it.ShardIterator
			for range 10 { // a read may end at a segment's end
				out, err := client(id).GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					lastErr = err
					return false
				}
				got = append(got, out.Records...)
				if iter = out.NextShardIterator; len(got) >= 2 || iter == nil {
					break
				}
			}
			return len(got) == 2
		})
		if !ok {
			t.Fatalf("node %d reads %d records; want 2 (last error: %v)", id, len(got), lastErr)
		}
		if string(got[0].Data) != control || got[0].EncryptionType == sdktypes.EncryptionTypeKms ||
			string(got[1].Data) != marker || got[1].EncryptionType != sdktypes.EncryptionTypeKms {
			t.Fatalf("node %d reads %q (%s) and %q (%s); want the control in the clear and the marker under KMS",
				id, got[0].Data, got[0].EncryptionType, got[1].Data, got[1].EncryptionType)
		}
		d, err := client(id).DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: stream})
		if err != nil {
			t.Fatal(err)
		}
		if d.StreamDescriptionSummary.EncryptionType != sdktypes.EncryptionTypeKms {
			t.Fatalf("node %d describes the stream's encryption as %q", id, d.StreamDescriptionSummary.EncryptionType)
		}
	}
	for _, id := range c.ids {
		if err := c.node(id).stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("node %d on SIGTERM: %v", id, err)
		}
	}
	for _, id := range c.ids {
		dir := filepath.Join(c.dir, fmt.Sprintf("node%d", id))
		if found, _ := segmentsWith(t, dir, []byte(control)); len(found) == 0 {
			t.Fatalf("node %d's segments do not hold the record put in the clear either: the scan proves nothing", id)
		}
		if found, segs := segmentsWith(t, dir, []byte(marker)); len(found) != 0 {
			t.Fatalf("node %d holds the encrypted stream's record in the clear in %q (of %d segment files)", id, found, segs)
		}
		// The Raft log keeps the entry as it arrived until it is
		// compacted (docs/cluster.md).
		if found, _ := scanFor(t, filepath.Join(dir, "raft"), []byte(marker)); len(found) != 0 {
			t.Logf("node %d: the Raft log holds the record in the clear, until compacted, in %d files", id, len(found))
		}
	}
}
