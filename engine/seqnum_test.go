package engine

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/sluicedb/sluice/api"
)

// documentedDecimal is the decimal sequence number as engine/doc.go,
// docs/protocol.md and wire/doc.go define it:
// incarnation<<96 | shard<<64 | (seq+1 mod 2^64).
func documentedDecimal(inc, shard uint32, seq uint64) string {
	v := new(big.Int).Lsh(new(big.Int).SetUint64(uint64(inc)), 96)
	v.Or(v, new(big.Int).Lsh(new(big.Int).SetUint64(uint64(shard)), 64))
	v.Or(v, new(big.Int).SetUint64(seq+1)) // wraps api.StartSeq to 0, as documented
	return v.String()
}

func TestSeqNum_DecimalIsTheDocumentedFormula(t *testing.T) {
	cases := []struct {
		s    api.SeqNum
		want string // written out where a document quotes the number
	}{
		{api.SeqNum{Incarnation: 1700000000, Shard: 0, Seq: 0}, "134687876274249373909024715571200000001"},
		{api.SeqNum{Incarnation: 1, Shard: 0, Seq: 0}, "79228162514264337593543950337"},
		{api.SeqNum{Incarnation: 1, Shard: 0, Seq: api.StartSeq}, "79228162514264337593543950336"},
		{api.SeqNum{Incarnation: 1764240000, Shard: 7, Seq: 41}, ""},
		{api.SeqNum{Incarnation: 1764240000, Shard: 7, Seq: api.StartSeq}, ""},
		{api.SeqNum{Incarnation: 1764240000, Shard: 9999, Seq: 1 << 32}, ""},
		{api.SeqNum{Incarnation: math.MaxUint32, Shard: math.MaxUint32, Seq: api.StartSeq - 1}, "340282366920938463463374607431768211455"},
	}
	for _, c := range cases {
		name := fmt.Sprintf("inc=%d/shard=%d/seq=%d", c.s.Incarnation, c.s.Shard, c.s.Seq)
		t.Run(name, func(t *testing.T) {
			want := documentedDecimal(c.s.Incarnation, c.s.Shard, c.s.Seq)
			if c.want != "" && c.want != want {
				t.Fatalf("the formula gives %s; the documents quote %s", want, c.want)
			}
			if got := c.s.String(); got != want {
				t.Fatalf("String() = %s, want %s", got, want)
			}
			if got := string(c.s.AppendDecimal([]byte("x"))); got != "x"+want {
				t.Fatalf("AppendDecimal = %s, want x%s", got, want)
			}
			back, err := api.ParseSeqNum(want)
			if err != nil || back != c.s {
				t.Fatalf("ParseSeqNum(%s) = %+v, %v; want %+v", want, back, err, c.s)
			}
		})
	}
}

// TestSeqNum_EngineIssuesTheDocumentedNumbers checks the numbers the engine
// hands out (put results and shards' starting numbers) against the formula,
// with each shard's records numbered 0, 1, 2, ... in put order.
func TestSeqNum_EngineIssuesTheDocumentedNumbers(t *testing.T) {
	e := openTest(t, nil)
	si := mustCreate(t, e, "s", 4)
	for _, sh := range si.Shards {
		want := documentedDecimal(si.Incarnation, uint32(sh.Index), api.StartSeq)
		if got := sh.StartingSeq.String(); got != want {
			t.Fatalf("%s starts at %s, want %s", sh.ID, got, want)
		}
	}
	next := map[int]uint64{}
	for i := 0; i < 64; i++ {
		r := put(t, e, "s", fmt.Sprintf("key-%d", i), "v")
		idx, err := api.ParseShardID(r.ShardID)
		if err != nil {
			t.Fatal(err)
		}
		seq := next[idx]
		next[idx]++
		want := documentedDecimal(si.Incarnation, uint32(idx), seq)
		if got := r.Seq.String(); got != want {
			t.Fatalf("record %d (%s, its #%d) got %s, want %s", i, r.ShardID, seq, got, want)
		}
		back, err := api.ParseSeqNum(want)
		if err != nil || back != (api.SeqNum{Incarnation: si.Incarnation, Shard: uint32(idx), Seq: seq}) {
			t.Fatalf("ParseSeqNum(%s) = %+v, %v", want, back, err)
		}
	}
	if len(next) < 2 {
		t.Fatalf("64 keys reached only %d of 4 shards", len(next))
	}
}
