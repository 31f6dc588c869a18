package kinesis

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestIterators(t testing.TB, clock *testClock) *IteratorCodec {
	t.Helper()
	c, err := NewIteratorCodec(IteratorOptions{Key: []byte("0123456789abcdef0123456789abcdef"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIteratorCodec_RoundTrip(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1700000000123)}
	c := newTestIterators(t, clock)
	p := IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000007", Incarnation: 3, Sequence: 1<<63 + 5}
	tok, err := c.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	p.Issued = clock.Now().UTC()
	if got != p {
		t.Errorf("decoded %+v, want %+v", got, p)
	}
	app, err := c.AppendEncode([]byte("x"), p)
	if err != nil || app[0] != 'x' {
		t.Fatalf("AppendEncode = %q, %v; want x followed by a token", app, err)
	}
	if string(app[1:]) == tok {
		t.Error("two tokens for one position in one millisecond are identical; each must be fresh")
	}
	if again, err := c.Decode(string(app[1:])); err != nil || again != p {
		t.Errorf("AppendEncode token decodes to %+v, %v; want %+v", again, err, p)
	}
}

// TestIteratorCodec_MaxLength keeps the longest possible token within the
// API's 512 characters.
func TestIteratorCodec_MaxLength(t *testing.T) {
	c := newTestIterators(t, &testClock{t: time.Now()})
	long := strings.Repeat("s", 128)
	tok, err := c.Encode(IteratorPosition{StreamName: long, ShardID: long, Incarnation: ^uint64(0), Sequence: ^uint64(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 512 {
		t.Errorf("token of %d characters", len(tok))
	}
	if _, err := c.Decode(tok); err != nil {
		t.Error(err)
	}
	for _, p := range []IteratorPosition{{StreamName: long + "s", ShardID: "s"}, {StreamName: "s"}} {
		if _, err := c.Encode(p); err == nil {
			t.Errorf("Encode(%d-byte stream, %d-byte shard) succeeded", len(p.StreamName), len(p.ShardID))
		}
	}
}

// TestIteratorCodec_Tampering edits every bit of a token's bytes, and forges
// tokens with another key: all are rejected as invalid, none decodes.
func TestIteratorCodec_Tampering(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1700000000000)}
	c := newTestIterators(t, clock)
	tok, err := c.Encode(IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000000", Incarnation: 1, Sequence: 10})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(tok)
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			bad := append([]byte(nil), raw...)
			bad[i] ^= 1 << bit
			_, err := c.Decode(base64.StdEncoding.EncodeToString(bad))
			if !errors.Is(err, ErrInvalidArgument) || err.(*Error).Message != "Invalid ShardIterator." {
				t.Fatalf("bit %d of byte %d flipped: err = %v", bit, i, err)
			}
		}
	}
	other, _ := NewIteratorCodec(IteratorOptions{Key: []byte("another key of at least 16 bytes"), Now: clock.Now})
	forged, _ := other.Encode(IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000000", Incarnation: 1, Sequence: 10})
	for _, bad := range []string{forged, "", "AAAA", tok[:len(tok)-4], tok + "AAAA", strings.Repeat("A", 600), "not base64!", strings.TrimRight(tok, "=")} {
		if _, err := c.Decode(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Decode(%q) err = %v, want InvalidArgumentException", bad, err)
		}
	}
}

// TestIteratorCodec_Expiry expires a token after exactly five minutes, with
// AWS's message.
func TestIteratorCodec_Expiry(t *testing.T) {
	clock := &testClock{t: time.Date(2015, 1, 22, 1, 22, 2, 0, time.UTC)}
	c := newTestIterators(t, clock)
	tok, _ := c.Encode(IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000000"})
	clock.Advance(5 * time.Minute)
	if _, err := c.Decode(tok); err != nil {
		t.Fatalf("a token of exactly 5 minutes: %v", err)
	}
	clock.Advance(time.Millisecond)
	_, err := c.Decode(tok)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeExpiredIterator || e.Status != 400 {
		t.Fatalf("err = %v, want ExpiredIteratorException", err)
	}
	want := "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 while right now it is Thu Jan 22 01:27:02 UTC 2015 which is further in the future than the tolerated delay of 300000 milliseconds."
	if e.Message != want {
		t.Errorf("message %q\nwant    %q", e.Message, want)
	}
}

func TestNewIteratorCodec_ShortKey(t *testing.T) {
	if _, err := NewIteratorCodec(IteratorOptions{Key: []byte("short")}); !errors.Is(err, ErrIteratorKey) {
		t.Errorf("err = %v", err)
	}
	if k1, k2 := NewIteratorKey(), NewIteratorKey(); len(k1) != 32 || string(k1) == string(k2) {
		t.Error("NewIteratorKey does not return fresh 32-byte keys")
	}
}

// FuzzDecodeIterator feeds arbitrary tokens to Decode: it never panics, and
// anything it accepts re-encodes to a token that decodes to the same position.
func FuzzDecodeIterator(f *testing.F) {
	clock := &testClock{t: time.UnixMilli(1700000000000)}
	c := newTestIterators(f, clock)
	tok, _ := c.Encode(IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000001", Incarnation: 2, Sequence: 99})
	f.Add(tok)
	f.Add("")
	f.Add("AAAAAAAAAAE=")
	f.Add(strings.Repeat("A", 512))
	f.Fuzz(func(t *testing.T, token string) {
		p, err := c.Decode(token)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeInvalidArgument && e.Code != CodeExpiredIterator) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, err := c.Encode(p)
		if err != nil {
			t.Fatalf("accepted position %+v does not re-encode: %v", p, err)
		}
		q, err := c.Decode(again)
		if err != nil {
			t.Fatal(err)
		}
		p.Issued = q.Issued
		if p != q {
			t.Fatalf("re-encoded %+v as %+v", p, q)
		}
	})
}
