package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestError_WordsEachReasonWithItsNames(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{StreamNotFound("orders"), "stream orders not found"},
		{ShardNotFound("orders", "shardId-000000000003"), "shard shardId-000000000003 of stream orders not found"},
		{ConsumerNotFound("orders", "billing"), "consumer billing of stream orders not found"},
		{&Error{Code: CodeInvalidArgument, Reason: ReasonSeqOtherShard, Stream: "orders", Shard: "shardId-000000000001", Arg: "42"},
			"sequence number 42 did not come from shard shardId-000000000001 of stream orders"},
		{Errorf(CodeInvalidArgument, "partition key is %d characters; the limit is %d", 300, 256), "partition key is 300 characters; the limit is 256"},
		{LimitError(CodeLimitExceeded, "the server's shard count", 10001, 10000), "the server's shard count is 10001; the limit is 10000"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: %q; want %q", tc.err, got, tc.want)
		}
	}
	for _, e := range []*Error{StreamNotFound("a"), ShardNotFound("a", "b"), ConsumerNotFound("a", "c")} {
		if strings.Contains(e.Error(), "account") {
			t.Errorf("%q names an account: the engine's words are the door's to choose", e.Error())
		}
	}
}

func TestError_IsMatchesCodeAndReasonSentinels(t *testing.T) {
	err := fmt.Errorf("describe: %w", StreamNotFound("orders"))
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrStreamNotFound) {
		t.Fatal("a stream-not-found error does not match its code and reason sentinels")
	}
	if errors.Is(err, ErrShardNotFound) || errors.Is(err, ErrInvalidArgument) {
		t.Fatal("a stream-not-found error matches another reason or code")
	}
	if errors.Is(err, StreamNotFound("orders")) {
		t.Fatal("an error with names matched as if it were a sentinel")
	}
}

func TestPublicMessage_KeepsInternalCausesOut(t *testing.T) {
	cause := errors.New("pwritev /data/streams/1/shardId-000000000000/00000000000000000000.seg: no space left on device")
	e := &Error{Code: CodeInternal, Detail: "write failed on shard shardId-000000000000", Err: cause}
	if msg := PublicMessage(e); strings.Contains(msg, "/data") || !strings.Contains(msg, "write failed on shard shardId-000000000000") {
		t.Fatalf("PublicMessage = %q; want the detail without the cause", msg)
	}
	if msg := PublicMessage(cause); strings.Contains(msg, "/data") {
		t.Fatalf("PublicMessage of a plain error = %q", msg)
	}
	v := Errorf(CodeInvalidArgument, "shard id %q is malformed", "x")
	if PublicMessage(v) != v.Error() {
		t.Fatalf("PublicMessage changed a validation message: %q", PublicMessage(v))
	}
}
