package api

import (
	"crypto/md5"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestHashPartitionKey_MatchesReferenceMD5(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		key := []byte(strconv.FormatUint(rng.Uint64(), 36))
		sum := md5.Sum(key)
		want := new(big.Int).SetBytes(sum[:])
		if got := HashPartitionKey(key).Big(); got.Cmp(want) != 0 {
			t.Fatalf("key %q: hash %s, want %s", key, got, want)
		}
	}
}

func TestHashKey_DecimalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []HashKey{{}, {0, 1}, {0, 1e19}, {1, 0}, MaxHashKey, {0, ^uint64(0)}}
	for i := 0; i < 1000; i++ {
		cases = append(cases, HashKey{rng.Uint64() >> (rng.Uint64() % 64), rng.Uint64()})
	}
	for _, h := range cases {
		s := h.String()
		if s != h.Big().String() {
			t.Fatalf("String(%v) = %s, want %s", h, s, h.Big())
		}
		back, err := ParseHashKey(s)
		if err != nil || back != h {
			t.Fatalf("ParseHashKey(%s) = %v, %v; want %v", s, back, err, h)
		}
	}
	if MaxHashKey.String() != "340282366920938463463374607431768211455" {
		t.Fatalf("MaxHashKey = %s", MaxHashKey)
	}
}

func TestParseHashKey_Rejects(t *testing.T) {
	for _, s := range []string{"", "-1", "01", "1.5", "340282366920938463463374607431768211456", "99999999999999999999999999999999999999999", "12a", " 1"} {
		if _, err := ParseHashKey(s); err == nil {
			t.Errorf("ParseHashKey(%q) succeeded; want an error", s)
		}
	}
}

func TestEvenRanges_CoverTheSpace(t *testing.T) {
	for n := 1; n <= 37; n++ {
		r := EvenRanges(n)
		if r[0][0] != (HashKey{}) || r[n-1][1] != MaxHashKey {
			t.Fatalf("n=%d: ranges do not span the space: %v..%v", n, r[0][0], r[n-1][1])
		}
		for i := 1; i < n; i++ {
			if r[i-1][1].Inc() != r[i][0] {
				t.Fatalf("n=%d: gap or overlap between range %d and %d", n, i-1, i)
			}
		}
	}
	// Kinesis's own split of a 4-shard stream.
	if got := EvenRanges(4)[0][1].String(); got != "85070591730234615865843651857942052863" {
		t.Fatalf("first of 4 ranges ends at %s", got)
	}
}

func TestSeqNum_DecimalOrderMatchesRecordOrder(t *testing.T) {
	start := SeqNum{Incarnation: 1764240000, Shard: 7, Seq: StartSeq}
	prev, _ := new(big.Int).SetString(start.String(), 10)
	if back, err := ParseSeqNum(start.String()); err != nil || !back.IsStart() {
		t.Fatalf("the starting number %s parses as %+v, %v", start, back, err)
	}
	for _, seq := range []uint64{0, 1, 9, 10, 99, 1 << 32, 1<<63 - 1, 1 << 63, ^uint64(0) - 1} {
		s := SeqNum{Incarnation: 1764240000, Shard: 7, Seq: seq}
		str := s.String()
		v, ok := new(big.Int).SetString(str, 10)
		if !ok || v.Cmp(prev) <= 0 {
			t.Fatalf("sequence %d formats as %s, not above the previous", seq, str)
		}
		prev = v
		back, err := ParseSeqNum(str)
		if err != nil || back != s {
			t.Fatalf("ParseSeqNum(%s) = %v, %v", str, back, err)
		}
	}
	if _, err := ParseSeqNum("12345"); err == nil {
		t.Fatal("a number without an incarnation parsed as a sequence number")
	}
}

func TestShardID_Format(t *testing.T) {
	if ShardID(7) != "shardId-000000000007" {
		t.Fatal(ShardID(7))
	}
	for _, bad := range []string{"", "shardId-", "shardId-x", "shardId-0000000000001"} {
		if _, err := ParseShardID(bad); err == nil {
			t.Errorf("ParseShardID(%q) succeeded", bad)
		}
	}
	if n, err := ParseShardID("shardId-000000000042"); err != nil || n != 42 {
		t.Fatal(n, err)
	}
}

func TestParseShardPair_BothOrTheFirstBadOne(t *testing.T) {
	if a, b, err := ParseShardPair("shardId-000000000003", "4"); err != nil || a != 3 || b != 4 {
		t.Fatalf("ParseShardPair = %d, %d, %v; want 3, 4", a, b, err)
	}
	for _, ids := range [][2]string{{"shardId-x", "1"}, {"1", "shardId-y"}} {
		_, _, err := ParseShardPair(ids[0], ids[1])
		bad := ids[0]
		if bad == "1" {
			bad = ids[1]
		}
		if err == nil || !strings.Contains(err.Error(), bad) || CodeOf(err) != CodeInvalidArgument {
			t.Errorf("ParseShardPair(%q, %q) = %v; want an invalid-argument error naming %q", ids[0], ids[1], err, bad)
		}
	}
}
