package kinesis

import (
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func newTestTokens(clock *testClock) *pageTokenCodec {
	return newPageTokenCodec([]byte("0123456789abcdef0123456789abcdef"), clock.Now, 0)
}

func TestPageTokenCodec_RoundTrip(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1700000000123)}
	c := newTestTokens(clock)
	want := pageToken{kind: pageListShards, stream: "orders", incarnation: 7, after: "shardId-000000000003",
		filter: ShardFilter{Type: ShardFilterTypeFromTimestamp, Timestamp: TimestampFromMillis(1699999999000)}}
	got, err := c.decode(c.encode(want), pageListShards)
	if err != nil {
		t.Fatal(err)
	}
	want.issued = clock.Now().UTC()
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	// A token of one operation does not page another.
	if _, err := c.decode(c.encode(want), pageListStreams); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a ListShards token paged ListStreams: %v", err)
	}
}

func TestPageTokenCodec_TamperingAndExpiry(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1700000000000)}
	c := newTestTokens(clock)
	tok := c.encode(pageToken{kind: pageListStreams, after: "s1"})
	raw, _ := base64.StdEncoding.DecodeString(tok)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x10
		if _, err := c.decode(base64.StdEncoding.EncodeToString(bad), pageListStreams); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("byte %d edited: err = %v", i, err)
		}
	}
	other := newPageTokenCodec([]byte("another key of at least 16 bytes"), clock.Now, 0)
	if _, err := c.decode(other.encode(pageToken{kind: pageListStreams, after: "s1"}), pageListStreams); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a token of another key: %v", err)
	}
	clock.Advance(NextTokenTTL)
	if _, err := c.decode(tok, pageListStreams); err != nil {
		t.Fatalf("a token of exactly 300 s: %v", err)
	}
	clock.Advance(time.Millisecond)
	if _, err := c.decode(tok, pageListStreams); !errors.Is(err, ErrExpiredNextToken) {
		t.Fatalf("a token past 300 s: %v; want ExpiredNextTokenException", err)
	}
}

// TestPageTokens_LongTokenIsNotDecoded checks that a NextToken longer than
// any this server issues (up to the 1 MiB the model allows) is refused
// without decoding it, while the longest issued token still decodes.
func TestPageTokens_LongTokenIsNotDecoded(t *testing.T) {
	c := newTestTokens(&testClock{t: time.UnixMilli(1700000000000)})
	long := strings.Repeat("A", maxNextTokenLen)
	c.decode("AQE=", pageListShards) // once, so that lazy initialisation is not counted
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.decode(long, pageListShards)
	runtime.ReadMemStats(&after)
	if heap := after.TotalAlloc - before.TotalAlloc; heap > 4<<10 {
		t.Errorf("refusing a %d-byte token allocated %d bytes; want at most 4 KiB", len(long), heap)
	}
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("err = %v; want InvalidArgumentException", err)
	}
	name := strings.Repeat("n", 255)
	p := pageToken{kind: pageListShards, stream: name, after: name, filter: ShardFilter{Type: ShardFilterTypeAfterShardId, ShardId: name}}
	if q, err := c.decode(c.encode(p), pageListShards); err != nil || q.stream != name || q.after != name || q.filter.ShardId != name {
		t.Errorf("the longest token decodes to %+v, %v", q, err)
	}
}

// FuzzDecodeNextToken feeds arbitrary NextTokens to the decoder: it never
// panics, answers InvalidArgumentException or ExpiredNextTokenException, and
// what it accepts re-encodes to a token that decodes to the same state.
func FuzzDecodeNextToken(f *testing.F) {
	clock := &testClock{t: time.UnixMilli(1700000000000)}
	c := newTestTokens(clock)
	f.Add(c.encode(pageToken{kind: pageListShards, stream: "orders", incarnation: 1, after: "shardId-000000000000",
		filter: ShardFilter{Type: ShardFilterTypeAfterShardId, ShardId: "shardId-000000000000"}}))
	f.Add(c.encode(pageToken{kind: pageListStreams, after: "a"}))
	f.Add("")
	f.Add("AQE=")
	f.Fuzz(func(t *testing.T, token string) {
		for _, kind := range []pageKind{pageListShards, pageListStreams, pageListConsumers} {
			p, err := c.decode(token, kind)
			if err != nil {
				if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrExpiredNextToken) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			q, err := c.decode(c.encode(p), kind)
			if err != nil {
				t.Fatal(err)
			}
			q.issued = p.issued
			if p != q {
				t.Fatalf("re-encoded %+v as %+v", p, q)
			}
		}
	})
}
