package wire

import (
	"errors"
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

// codecCases are one populated value of every message, and a fresh value
// to decode it into.
func codecCases() []struct {
	name     string
	in, into message
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
		in, into message
	}{
		{"Stream", &reqStream{Stream: "orders"}, &reqStream{}},
		{"CreateStream", &reqCreateStream{In: api.CreateStreamInput{Name: "orders", ShardCount: 4, Mode: api.Provisioned,
			Tags: map[string]string{"a": "b"}, MaxRecordSize: 1 << 20, RetentionHours: 24, Durability: api.None, Quotas: &q}},
			&reqCreateStream{}},
		{"CreateStreamDefaults", &reqCreateStream{In: api.CreateStreamInput{Name: "x", ShardCount: 1}}, &reqCreateStream{}},
		{"DeleteStream", &reqDeleteStream{Stream: "orders", Enforce: true}, &reqDeleteStream{}},
		{"PutRecord", &reqPutRecord{Stream: []byte("orders"), SeqForOrdering: []byte("123"),
			Rec: api.PutRecord{Key: []byte("k"), Data: []byte("data"), ExplicitHash: api.HashKey{Hi: 9, Lo: 8}, HasExplicitHash: true}},
			&reqPutRecord{}},
		{"PutRecords", &reqPutRecords{Stream: []byte("orders"), Recs: []api.PutRecord{
			{Key: []byte("a"), Data: []byte{}}, {Key: []byte("b"), Data: []byte("xyz"), HasExplicitHash: true, ExplicitHash: api.MaxHashKey}}},
			&reqPutRecords{}},
		{"GetIterator", &reqGetIterator{Stream: "orders", Shard: 2, Type: api.AtSequenceNumber,
			Seq: api.SeqNum{Incarnation: 7, Shard: 2, Seq: 5}, Timestamp: time.Unix(0, 77)}, &reqGetIterator{}},
		{"Read", &reqRead{Pos: pos, MaxRecords: 10, MaxBytes: 1 << 20}, &reqRead{}},
		{"SplitShard", &reqSplitShard{Stream: "orders", Shard: 1, NewStart: api.HashKey{Hi: 1 << 63}}, &reqSplitShard{}},
		{"MergeShards", &reqMergeShards{Stream: "orders", Shard: 1, Adjacent: 2}, &reqMergeShards{}},
		{"StreamN", &reqStreamN{Stream: "orders", N: 168}, &reqStreamN{}},
		{"AddTags", &reqAddTags{Stream: "orders", Tags: map[string]string{"k1": "v1", "k2": ""}}, &reqAddTags{}},
		{"RemoveTags", &reqRemoveTags{Stream: "orders", Keys: []string{"k1", "k2"}}, &reqRemoveTags{}},
		{"SetQuotas", &reqSetQuotas{Stream: "orders", Quotas: &q}, &reqSetQuotas{}},
		{"SetQuotasDefault", &reqSetQuotas{Stream: "orders"}, &reqSetQuotas{}},
		{"SetDurability", &reqSetDurability{Stream: "orders", Durability: api.Always}, &reqSetDurability{}},
		{"SetStreamMode", &reqSetStreamMode{Stream: "orders", Mode: api.OnDemand}, &reqSetStreamMode{}},
		{"Subscribe", &reqSubscribe{Pos: pos, Credit: 1 << 20}, &reqSubscribe{}},
		{"Credit", &reqCredit{Bytes: 4096}, &reqCredit{}},
		{"StreamInfo", &respStreamInfo{Info: info}, &respStreamInfo{}},
		{"Names", &respNames{Names: []string{"a", "b", "c"}}, &respNames{}},
		{"Shards", &respShards{Shards: []api.ShardInfo{testShard(5)}}, &respShards{}},
		{"Tags", &respTags{Tags: map[string]string{"x": "y"}}, &respTags{}},
		{"Seq", &respSeq{Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}}, &respSeq{}},
		{"Position", &respPosition{Pos: pos}, &respPosition{}},
		{"PutRecordsResults", &respPutRecords{Failed: 1, Results: []api.PutResult{
			{ShardID: api.ShardID(2), Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}},
			{Err: &Error{Code: api.CodeThroughputExceeded, Name: api.CodeThroughputExceeded.String(), Message: "Rate exceeded for shard"}}}},
			&respPutRecords{}},
		{"ResultHead", &resultHead{Next: pos, MillisBehind: 42, ShardEnd: true, Children: []api.ShardInfo{testShard(8), testShard(9)}, Records: 0, FramesLen: 0},
			&resultHead{}},
		{"GoAway", &goAway{Name: "InternalFailureException", Message: "the server is shutting down"}, &goAway{}},
	}
}

func TestCodec_RoundTrip(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.in.appendTo(nil)
			if err := decodeMessage(b, tc.into); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(tc.in, tc.into) {
				t.Fatalf("round trip changed the message:\n in  %+v\n out %+v", tc.in, tc.into)
			}
			// Re-encoding the decoded message gives the same bytes.
			if b2 := tc.into.appendTo(nil); string(b2) != string(b) {
				t.Fatalf("re-encoding differs:\n %x\n %x", b, b2)
			}
		})
	}
}

func TestCodec_TruncatedAndTrailing(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.in.appendTo(nil)
			for n := 0; n < len(b); n++ {
				into := reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(message)
				err := decodeMessage(b[:n], into)
				if _, empty := tc.in.(*reqEmpty); empty {
					continue
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("decoding the first %d of %d bytes: %v; want ErrMalformed", n, len(b), err)
				}
			}
			into := reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(message)
			if err := decodeMessage(append(b, 0), into); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoding with a trailing byte: %v; want ErrMalformed", err)
			}
		})
	}
}

func TestCodec_InvalidValues(t *testing.T) {
	cases := []struct {
		name  string
		body  []byte
		into  message
		field string
	}{
		{"bool", append(appendStr(nil, "s"), 2), &reqDeleteStream{}, "enforce consumer deletion"},
		{"utf8", appendU16(nil, 2), &reqStream{}, "stream name"},
		{"iterator type", appendTime(appendSeqNum(appendU8(appendU32(appendStr(nil, "s"), 0), 9), api.SeqNum{}), time.Time{}), &reqGetIterator{}, "iterator type"},
		{"durability", appendU8(appendStr(nil, "s"), 4), &reqSetDurability{}, "durability"},
		{"mode", appendU8(appendStr(nil, "s"), 3), &reqSetStreamMode{}, "mode"},
		{"record flags", append(appendU16(appendStr(nil, "s"), 1), 0x80, 0, 0, 0, 0, 0, 0), &reqPutRecords{}, "record flags"},
		{"record count", appendU16(appendStr(nil, "s"), 1000), &reqPutRecords{}, "record count"},
		{"shard count", appendU32(nil, 1<<30), &respShards{}, "shards"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "utf8" {
				tc.body = append(tc.body, 0xff, 0xfe)
			}
			err := decodeMessage(tc.body, tc.into)
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
	putHeader(b, header{size: 1000, op: OpRead, flags: FlagError, id: 1 << 60})
	h, err := parseHeader(b, 1<<20)
	if err != nil || h != (header{size: 1000, op: OpRead, flags: FlagError, id: 1 << 60}) {
		t.Fatalf("parseHeader = %+v, %v", h, err)
	}
	if _, err := parseHeader(b, 999); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("parseHeader over the limit: %v; want ErrFrameTooLarge", err)
	}
	putHeader(b, header{size: HeaderSize - 1})
	if _, err := parseHeader(b, 1<<20); err == nil || errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("parseHeader of a short length: %v; want a FrameError that is not ErrFrameTooLarge", err)
	}
	putHeader(b, header{size: HeaderSize})
	b[6] = 1
	if _, err := parseHeader(b, 1<<20); err == nil {
		t.Fatal("parseHeader accepted reserved bits")
	}
}

func TestFrame_HelloRoundTrip(t *testing.T) {
	h := hello{version: 1, status: statusBusy, features: 5, maxFrame: 1 << 24}
	b := h.marshal()
	got, err := readHello(strings.NewReader(string(b[:])))
	if err != nil || got != h {
		t.Fatalf("readHello = %+v, %v; want %+v", got, err, h)
	}
	b[0] = 'X'
	if _, err := readHello(strings.NewReader(string(b[:]))); !errors.Is(err, ErrHandshake) {
		t.Fatalf("readHello of a bad magic: %v; want ErrHandshake", err)
	}
	if _, err := readHello(strings.NewReader("SLC")); !errors.Is(err, ErrHandshake) {
		t.Fatalf("readHello of a short hello: %v; want ErrHandshake", err)
	}
}

func TestError_MatchesEngineSentinels(t *testing.T) {
	for c := api.CodeInternal; c <= api.CodeValidation; c++ {
		e := newError(c.String(), "message")
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
	if e := newError("SomethingNewException", "x"); e.Code != api.CodeInternal || e.Name != "SomethingNewException" {
		t.Fatalf("unknown name decoded as %+v; want CodeInternal keeping the name", e)
	}
}
