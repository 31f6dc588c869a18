package api

import "fmt"

// SeqNum is the external sequence number of a record: what PutRecord returns
// and what iterators start from. Inside a shard, records are numbered 0, 1, 2,
// ... (Seq); the external form prefixes that with the stream's incarnation and
// the shard's index, so that
//
//   - within a shard, external numbers compare numerically in record order
//     (KCL compares them as big integers);
//   - a number from a deleted and re-created stream of the same name never
//     resolves against the new one (the incarnation differs);
//   - a number names its shard, so a mismatched shard is a clear error.
//
// Its decimal form is the 128-bit integer
// (Incarnation<<96 | Shard<<64 | Seq+1), 29 to 39 digits. The +1 leaves the
// low word 0 for the shard's own starting sequence number (Seq == StartSeq),
// which sorts before every record of the shard and is never a record's, so
// that AFTER_SEQUENCE_NUMBER of it starts at the first record.
type SeqNum struct {
	Incarnation uint32
	Shard       uint32
	Seq         uint64 // the internal sequence number, or StartSeq
}

// StartSeq is the Seq of a shard's starting sequence number: the position
// before its first record.
const StartSeq = ^uint64(0)

func (s SeqNum) hashKey() HashKey {
	return HashKey{Hi: uint64(s.Incarnation)<<32 | uint64(s.Shard), Lo: s.Seq + 1}
}

// IsStart reports whether s is a shard's starting sequence number.
func (s SeqNum) IsStart() bool { return s.Seq == StartSeq }

// AppendDecimal appends the decimal form of s to dst without allocating.
func (s SeqNum) AppendDecimal(dst []byte) []byte { return s.hashKey().AppendDecimal(dst) }

// String is the decimal form of s.
func (s SeqNum) String() string { return s.hashKey().String() }

// ParseSeqNum parses the decimal form of a sequence number.
func ParseSeqNum(str string) (SeqNum, error) {
	h, err := ParseHashKey(str)
	if err != nil || h.Hi>>32 == 0 {
		return SeqNum{}, Errorf(CodeInvalidArgument,
			"sequence number %q is not one this server issued: it must be a decimal integer of up to 39 digits", Clip(str))
	}
	return SeqNum{Incarnation: uint32(h.Hi >> 32), Shard: uint32(h.Hi), Seq: h.Lo - 1}, nil
}

// ShardID formats a shard index the way Kinesis names shards.
func ShardID(index int) string { return fmt.Sprintf("shardId-%012d", index) }

// ParseShardPair parses the two shard ids of a merge with ParseShardID,
// failing on the first that is malformed.
func ParseShardPair(shardID, adjacentID string) (int, int, error) {
	a, err := ParseShardID(shardID)
	if err != nil {
		return 0, 0, err
	}
	b, err := ParseShardID(adjacentID)
	if err != nil {
		return 0, 0, err
	}
	return a, b, nil
}

// ParseShardID parses "shardId-000000000007" (or a bare index) to its index.
func ParseShardID(id string) (int, error) {
	s := id
	if len(s) > 8 && s[:8] == "shardId-" {
		s = s[8:]
	}
	if s == "" || len(s) > 12 {
		return 0, Errorf(CodeInvalidArgument, "shard id %q is malformed: want shardId- followed by 12 digits", Clip(id))
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, Errorf(CodeInvalidArgument, "shard id %q is malformed: want shardId- followed by 12 digits", Clip(id))
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}
