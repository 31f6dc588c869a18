package wire

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

func testShard(i int) api.ShardInfo {
	return api.ShardInfo{
		Index: i, ID: api.ShardID(i), Parent: api.ShardID(i + 100), AdjacentParent: "",
		HashStart: api.HashKey{Hi: 1, Lo: 2}, HashEnd: api.MaxHashKey,
		StartingSeq: api.SeqNum{Incarnation: 7, Shard: uint32(i), Seq: 0},
		EndingSeq:   api.SeqNum{Incarnation: 7, Shard: uint32(i), Seq: 99},
		Closed:      true, Created: time.Unix(0, 1_700_000_000_123_456_789), FirstSeq: 3, NextSeq: 100,
	}
}

func testKey(i int) KeyInfo {
	id := fmt.Sprintf("0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f6%d", i)
	return KeyInfo{KeyID: id, ARN: "arn:aws:kms:us-east-1:000000000000:key/" + id, Description: "d",
		Created: time.Unix(0, 1_700_000_000_000_000_000), Enabled: i%2 == 0, Version: uint32(i),
		Rotated: time.Unix(0, 1_700_000_100_000_000_000)}
}

// codecCases are one populated value of every message, and a fresh value
// to decode it into.
func codecCases() []struct {
	name     string
	in, into Message
} {
	q := ratelimit.Kinesis
	info := &api.StreamInfo{
		Name: "orders", Incarnation: 7, Status: api.StatusActive, Mode: api.OnDemand,
		Created: time.Unix(0, 1_700_000_000_000_000_001), RetentionHours: 48, MaxRecordSize: 2 << 20,
		Durability: api.Interval, Quotas: q, Tags: map[string]string{"team": "a", "env": "prod"},
		EncryptionType: "KMS", KeyID: "alias/x", Monitoring: []string{"IncomingBytes"},
		Shards:    []api.ShardInfo{testShard(0), testShard(1)},
		Consumers: []api.ConsumerInfo{{Name: "c1", Status: "ACTIVE", Created: time.Unix(0, 5)}},
	}
	pos := api.Position{Stream: "orders", Incarnation: 7, Shard: 3, Seq: 12345}
	return []struct {
		name     string
		in, into Message
	}{
		{"Stream", &ReqStream{Stream: "orders"}, &ReqStream{}},
		{"CreateStream", &ReqCreateStream{In: api.CreateStreamInput{Name: "orders", ShardCount: 4, Mode: api.Provisioned,
			Tags: map[string]string{"a": "b"}, MaxRecordSize: 1 << 20, RetentionHours: 24, Durability: api.None, Quotas: &q}},
			&ReqCreateStream{}},
		{"CreateStreamDefaults", &ReqCreateStream{In: api.CreateStreamInput{Name: "x", ShardCount: 1}}, &ReqCreateStream{}},
		{"DeleteStream", &ReqDeleteStream{Stream: "orders", Value: true}, &ReqDeleteStream{}},
		{"PutRecord", &ReqPutRecord{Stream: []byte("orders"), SeqForOrdering: []byte("123"),
			Rec: api.PutRecord{Key: []byte("k"), Data: []byte("data"), ExplicitHash: api.HashKey{Hi: 9, Lo: 8}, HasExplicitHash: true}},
			&ReqPutRecord{}},
		{"PutRecords", &ReqPutRecords{Stream: []byte("orders"), Recs: []api.PutRecord{
			{Key: []byte("a"), Data: []byte{}}, {Key: []byte("b"), Data: []byte("xyz"), HasExplicitHash: true, ExplicitHash: api.MaxHashKey}}},
			&ReqPutRecords{}},
		{"GetIterator", &ReqGetIterator{Stream: "orders", Shard: 2, Type: api.AtSequenceNumber,
			Seq: api.SeqNum{Incarnation: 7, Shard: 2, Seq: 5}, Timestamp: time.Unix(0, 77)}, &ReqGetIterator{}},
		{"Read", &ReqRead{Pos: pos, MaxRecords: 10, MaxBytes: 1 << 20}, &ReqRead{}},
		{"SplitShard", &ReqSplitShard{Stream: "orders", Shard: 1, NewStart: api.HashKey{Hi: 1 << 63}}, &ReqSplitShard{}},
		{"MergeShards", &ReqMergeShards{Stream: "orders", Shard: 1, Adjacent: 2}, &ReqMergeShards{}},
		{"StreamN", &ReqStreamN{Stream: "orders", Value: 168}, &ReqStreamN{}},
		{"AddTags", &ReqAddTags{Stream: "orders", Value: map[string]string{"k1": "v1", "k2": ""}}, &ReqAddTags{}},
		{"RemoveTags", &ReqRemoveTags{Stream: "orders", Value: []string{"k1", "k2"}}, &ReqRemoveTags{}},
		{"SetQuotas", &ReqSetQuotas{Stream: "orders", Value: &q}, &ReqSetQuotas{}},
		{"SetQuotasDefault", &ReqSetQuotas{Stream: "orders"}, &ReqSetQuotas{}},
		{"SetDurability", &ReqSetDurability{Stream: "orders", Value: api.Always}, &ReqSetDurability{}},
		{"SetStreamMode", &ReqSetStreamMode{Stream: "orders", Value: api.OnDemand}, &ReqSetStreamMode{}},
		{"Subscribe", &ReqSubscribe{Pos: pos, Credit: 1 << 20}, &ReqSubscribe{}},
		{"Credit", &ReqCredit{Bytes: 4096}, &ReqCredit{}},
		{"StreamInfo", &RespStreamInfo{Info: info}, &RespStreamInfo{}},
		{"Names", &RespNames{Names: []string{"a", "b", "c"}}, &RespNames{}},
		{"Shards", &RespShards{Shards: []api.ShardInfo{testShard(5)}}, &RespShards{}},
		{"Tags", &RespTags{Tags: map[string]string{"x": "y"}}, &RespTags{}},
		{"Seq", &RespSeq{Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}}, &RespSeq{}},
		{"Position", &RespPosition{Pos: pos}, &RespPosition{}},
		{"PutRecordsResults", &RespPutRecords{Failed: 1, Results: []api.PutResult{
			{ShardID: api.ShardID(2), Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}},
			{Err: &Error{Code: api.CodeThroughputExceeded, Name: api.CodeThroughputExceeded.String(), Message: "Rate exceeded for shard"}}}},
			&RespPutRecords{}},
		{"ResultHead", &ResultHead{Next: pos, MillisBehind: 42, ShardEnd: true, Children: []api.ShardInfo{testShard(8), testShard(9)}, Records: 0, FramesLen: 0},
			&ResultHead{}},
		{"GoAway", &GoAway{Name: "InternalFailureException", Message: "the server is shutting down"}, &GoAway{}},
		{"Challenge", &Challenge{Nonce: [NonceSize]byte{1, 2, 3, 31: 4}}, &Challenge{}},
		{"Authenticate", &ReqAuthenticate{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Nonce: [NonceSize]byte{5, 31: 6}, Proof: [ProofSize]byte{7, 31: 8}},
			&ReqAuthenticate{}},
		{"AuthenticateResponse", &RespAuthenticate{Proof: [ProofSize]byte{9, 31: 10}}, &RespAuthenticate{}},
		// Cases are only ever added at the end: the seed corpus of
		// FuzzDecodeRequest picks them by index.
		{"StartStreamEncryption", &ReqStartStreamEncryption{Stream: "orders", Key: "alias/aws/kinesis"}, &ReqStartStreamEncryption{}},
		{"Key", &ReqKey{Key: "arn:aws:kms:us-east-1:000000000000:key/0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60"}, &ReqKey{}},
		{"CreateKey", &ReqCreateKey{Description: "orders at rest", Alias: "alias/orders"}, &ReqCreateKey{}},
		{"CreateAlias", &ReqCreateAlias{Alias: "alias/orders", Key: "0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60"}, &ReqCreateAlias{}},
		{"KeyResponse", &RespKey{Key: testKey(1)}, &RespKey{}},
		{"Keys", &RespKeys{Keys: []KeyInfo{testKey(1), testKey(2)}}, &RespKeys{}},
		{"Aliases", &RespAliases{Aliases: []AliasInfo{{Name: "alias/aws/kinesis",
			ARN: "arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis", KeyID: "0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60"}}}, &RespAliases{}},
		{"Rewrap", &RespRewrap{Shards: 4, Segments: 9}, &RespRewrap{}},
		{"HotKeys", &RespHotKeys{Keys: []api.HotKey{{Shard: "shardId-000000000003", HashKey: api.HashKey{Hi: 9, Lo: 1 << 60},
			Share: 0.5, RecordsPerSec: 3000, BytesPerSec: 1 << 20, Since: time.Unix(0, 1_800_000_000_000_000_000)}}}, &RespHotKeys{}},
		{"JoinGroup", &ReqJoinGroup{Stream: "orders", Group: "billing", Member: "host-1", FailoverMillis: 10000, StartAtLatest: true}, &ReqJoinGroup{}},
		{"GroupMember", &ReqGroupMember{Stream: "orders", Group: "billing", Member: "host-1"}, &ReqGroupMember{}},
		{"Group", &ReqGroup{Stream: "orders", Group: "billing"}, &ReqGroup{}},
		{"GroupAssignment", &RespGroupAssignment{FailoverMillis: 10000, HeartbeatMillis: 3333, Leases: []GroupLease{
			{Shard: "shardId-000000000001", Epoch: 3, Checkpoint: GroupCheckpoint{Seq: "4961", SubSeq: 2}},
			{Shard: "shardId-000000000002", Epoch: 1, Checkpoint: GroupCheckpoint{ShardEnd: true}, Release: true, ReleaseBy: time.Unix(0, 99)}}},
			&RespGroupAssignment{}},
		{"CheckpointGroup", &ReqCheckpointGroup{Stream: "orders", Group: "billing", Member: "host-1", Shard: "shardId-000000000001",
			Epoch: 3, Checkpoint: GroupCheckpoint{Seq: "4961", Whole: true}, Release: true}, &ReqCheckpointGroup{}},
		{"Groups", &RespGroups{Groups: []string{"billing", "search"}}, &RespGroups{}},
		{"GroupInfo", &RespGroupInfo{Name: "billing", FailoverMillis: 10000, Created: time.Unix(0, 5), LeaseMoves: 4, FencedCheckpoints: 1,
			Members: []GroupMember{{Name: "host-1", LastHeartbeat: time.Unix(0, 6), Leases: 2}},
			Shards: []GroupShard{{Shard: "shardId-000000000001", Owner: "host-1", Epoch: 3, Releasing: true,
				Checkpoint: GroupCheckpoint{Seq: "4961", Whole: true}, Closed: true, Waiting: false, LagRecords: 12, LagMillis: 340}}},
			&RespGroupInfo{}},
		{"ResetGroup", &ReqResetGroup{Stream: "orders", Group: "billing", To: "AT_TIMESTAMP", Time: time.Unix(0, 7), Seq: ""}, &ReqResetGroup{}},
		{"ShardMap", &RespShardMap{Stream: "orders", Incarnation: 7, Self: 2,
			Nodes: []NodeAddr{{ID: 1, Addr: "10.0.0.1:4568"}, {ID: 2, Addr: ""}, {ID: 3, Addr: "[::1]:4568"}},
			Shards: []ShardRoute{{Index: 0, HashStart: api.HashKey{}, HashEnd: api.HashKey{Hi: 1 << 62}, Leader: 3},
				{Index: 4, HashStart: api.HashKey{Hi: 1 << 62, Lo: 1}, HashEnd: api.MaxHashKey, Leader: 0}}}, &RespShardMap{}},
		{"PutShard", &ReqPutShard{Stream: []byte("orders"), Incarnation: 7, Shard: 4, Recs: []api.PutRecord{
			{Key: []byte("a"), Data: []byte{}}, {Key: []byte("b"), Data: []byte("xyz"), HasExplicitHash: true, ExplicitHash: api.MaxHashKey}}},
			&ReqPutShard{}},
	}
}

func TestCodec_RoundTrip(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.in.AppendTo(nil)
			if err := DecodeMessage(b, tc.into); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(tc.in, tc.into) {
				t.Fatalf("round trip changed the message:\n in  %+v\n out %+v", tc.in, tc.into)
			}
			// Re-encoding the decoded message gives the same bytes.
			if b2 := tc.into.AppendTo(nil); string(b2) != string(b) {
				t.Fatalf("re-encoding differs:\n %x\n %x", b, b2)
			}
		})
	}
}

func TestCodec_TruncatedAndTrailing(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.in.AppendTo(nil)
			for n := 0; n < len(b); n++ {
				into := reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(Message)
				err := DecodeMessage(b[:n], into)
				if _, empty := tc.in.(*ReqEmpty); empty {
					continue
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("decoding the first %d of %d bytes: %v; want ErrMalformed", n, len(b), err)
				}
			}
			into := reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(Message)
			if err := DecodeMessage(append(b, 0), into); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoding with a trailing byte: %v; want ErrMalformed", err)
			}
		})
	}
}

func TestCodec_InvalidValues(t *testing.T) {
	cases := []struct {
		name  string
		body  []byte
		into  Message
		field string
	}{
		{"bool", append(AppendStr(nil, "s"), 2), &ReqDeleteStream{}, "enforce consumer deletion"},
		{"utf8", AppendU16(nil, 2), &ReqStream{}, "stream name"},
		{"iterator type", AppendTime(AppendSeqNum(AppendU8(AppendU32(AppendStr(nil, "s"), 0), 9), api.SeqNum{}), time.Time{}), &ReqGetIterator{}, "iterator type"},
		{"durability", AppendU8(AppendStr(nil, "s"), 4), &ReqSetDurability{}, "durability"},
		{"mode", AppendU8(AppendStr(nil, "s"), 3), &ReqSetStreamMode{}, "mode"},
		{"record flags", append(AppendU16(AppendStr(nil, "s"), 1), 0x80, 0, 0, 0, 0, 0, 0), &ReqPutRecords{}, "record flags"},
		{"record count", AppendU16(AppendStr(nil, "s"), 1000), &ReqPutRecords{}, "record count"},
		{"shard count", AppendU32(nil, 1<<30), &RespShards{}, "shards"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "utf8" {
				tc.body = append(tc.body, 0xff, 0xfe)
			}
			err := DecodeMessage(tc.body, tc.into)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("decode: %v; want a DecodeError on %q", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name the field %q", err, tc.field)
			}
		})
	}
}

func TestFrame_HeaderRoundTrip(t *testing.T) {
	b := make([]byte, HeaderSize)
	PutHeader(b, Header{Size: 1000, Op: OpRead, Flags: FlagError, ID: 1 << 60})
	h, err := ParseHeader(b, 1<<20)
	if err != nil || h != (Header{Size: 1000, Op: OpRead, Flags: FlagError, ID: 1 << 60}) {
		t.Fatalf("parseHeader = %+v, %v", h, err)
	}
	if _, err := ParseHeader(b, 999); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("parseHeader over the limit: %v; want ErrFrameTooLarge", err)
	}
	PutHeader(b, Header{Size: HeaderSize - 1})
	if _, err := ParseHeader(b, 1<<20); err == nil || errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("parseHeader of a short length: %v; want a FrameError that is not ErrFrameTooLarge", err)
	}
	PutHeader(b, Header{Size: HeaderSize})
	b[6] = 1
	if _, err := ParseHeader(b, 1<<20); err == nil {
		t.Fatal("parseHeader accepted reserved bits")
	}
}

func TestFrame_HelloRoundTrip(t *testing.T) {
	h := Hello{Version: 1, Status: StatusBusy, Features: 5, MaxFrame: 1 << 24}
	b := h.Marshal()
	got, err := ReadHello(strings.NewReader(string(b[:])))
	if err != nil || got != h {
		t.Fatalf("readHello = %+v, %v; want %+v", got, err, h)
	}
	b[0] = 'X'
	if _, err := ReadHello(strings.NewReader(string(b[:]))); !errors.Is(err, ErrHandshake) {
		t.Fatalf("readHello of a bad magic: %v; want ErrHandshake", err)
	}
	if _, err := ReadHello(strings.NewReader("SLC")); !errors.Is(err, ErrHandshake) {
		t.Fatalf("readHello of a short hello: %v; want ErrHandshake", err)
	}
}

func TestError_MatchesEngineSentinels(t *testing.T) {
	for c := api.CodeInternal; c <= api.CodeValidation; c++ {
		e := NewError(c.String(), "message")
		if e.Code != c {
			t.Fatalf("newError(%q).Code = %v; want %v", c.String(), e.Code, c)
		}
		sentinel := &api.Error{Code: c}
		if !errors.Is(e, sentinel) {
			t.Fatalf("%v does not match the engine sentinel of its code", e)
		}
		other := &api.Error{Code: (c + 1) % (api.CodeValidation + 1)}
		if errors.Is(e, other) {
			t.Fatalf("%v matches the sentinel of code %v", e, other.Code)
		}
	}
	if e := NewError("SomethingNewException", "x"); e.Code != api.CodeInternal || e.Name != "SomethingNewException" {
		t.Fatalf("unknown name decoded as %+v; want CodeInternal keeping the name", e)
	}
}

// TestCodec_EnumCodes pins every stream mode, iterator type and durability
// to its documented code, both ways.
func TestCodec_EnumCodes(t *testing.T) {
	checkEnumCodes(t, []api.StreamMode{"", api.Provisioned, api.OnDemand}, 0, ModeCode,
		func(d *Decoder) api.StreamMode { return d.mode("mode") })
	checkEnumCodes(t, []api.IteratorType{"", api.AtSequenceNumber, api.AfterSequenceNumber, api.TrimHorizon, api.Latest, api.AtTimestamp}, 1,
		IterCode, func(d *Decoder) api.IteratorType { return d.iterType("iterator type") })
	checkEnumCodes(t, []api.Durability{api.DurabilityDefault, api.Always, api.Interval, api.None}, 0,
		func(v api.Durability) uint8 { return uint8(v) }, func(d *Decoder) api.Durability { return d.durability("durability") })
	if ModeCode("SOMETIMES") != ModeDefault || IterCode("SOMEWHERE") != 0 {
		t.Error("an unknown mode or iterator type has a code other than 0")
	}
}

// checkEnumCodes checks that values[code] encodes as code and decodes back,
// for every code from first on, and that the codes below first and the one
// after the last are malformed.
func checkEnumCodes[T comparable](t *testing.T, values []T, first int, encode func(T) uint8, decode func(*Decoder) T) {
	t.Helper()
	for code := 0; code <= len(values); code++ {
		d := NewDecoder([]byte{uint8(code)})
		got := decode(&d)
		err := d.Finish()
		if code < first || code == len(values) {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("code %d decoded as %v, %v; want ErrMalformed", code, got, err)
			}
			continue
		}
		if c := encode(values[code]); c != uint8(code) {
			t.Errorf("%v encodes as %d; want %d", values[code], c, code)
		}
		if got != values[code] || err != nil {
			t.Errorf("code %d decoded as %v, %v; want %v", code, got, err, values[code])
		}
	}
}
