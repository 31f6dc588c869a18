package client

import (
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kpl"
)

// TestAppendUserRecords_ResumeMidAggregate: a group resuming at a partial
// checkpoint of an aggregate skips the user records already processed,
// marks the last user record of each Kinesis record, and passes a record
// that is not a valid aggregate through whole.
func TestAppendUserRecords_ResumeMidAggregate(t *testing.T) {
	agg := kpl.NewAggregator(1 << 20)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := agg.Add(kpl.Record{PartitionKey: []byte(k), Data: []byte("data-" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	data := agg.Flush().Data
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1 // the MD5 no longer matches
	recs := []Record{
		{Seq: api.SeqNum{Incarnation: 1, Seq: 7}, Key: []byte("a"), Data: data},
		{Seq: api.SeqNum{Incarnation: 1, Seq: 8}, Key: []byte("x"), Data: bad},
		{Seq: api.SeqNum{Incarnation: 1, Seq: 9}, Key: []byte("p"), Data: []byte("plain")},
	}
	skip := int64(1)
	got := appendUserRecords(nil, recs, &skip)
	type want struct {
		seq, sub  uint64
		agg, last bool
		key, data string
	}
	exp := []want{
		{7, 2, true, true, "c", "data-c"},
		{8, 0, false, true, "x", string(bad)},
		{9, 0, false, true, "p", "plain"},
	}
	if len(got) != len(exp) {
		t.Fatalf("%d user records; want %d: %+v", len(got), len(exp), got)
	}
	for i, w := range exp {
		g := got[i]
		if g.Seq.Seq != w.seq || g.SubSeq != w.sub || g.Aggregated != w.agg || g.last != w.last || string(g.PartitionKey) != w.key || string(g.Data) != w.data {
			t.Errorf("record %d: %+v; want %+v", i, g, w)
		}
	}
	if skip != -1 {
		t.Fatalf("skip left at %d; want it cleared after the first record", skip)
	}
	if cp := checkpointOf(got[0]); !cp.Whole || cp.SubSeq != 2 {
		t.Fatalf("checkpoint of the aggregate's last user record: %+v; want whole", cp)
	}
}
