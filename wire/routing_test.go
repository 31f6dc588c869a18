package wire

import (
	"errors"
	"testing"
)

// A NotLeaderException carries the leader's id and address after its
// message; other errors and a NotLeaderException without them decode as
// before, and the error matches ErrNotLeader.
func TestError_NotLeaderBody(t *testing.T) {
	e := NotLeaderError("node 2 does not lead shardId-000000000001", 3, "10.0.0.3:4568")
	got, err := DecodeErrorBody(AppendError(nil, e))
	if err != nil {
		t.Fatal(err)
	}
	if *got != *e {
		t.Fatalf("decoded %+v; want %+v", got, e)
	}
	if !errors.Is(got, ErrNotLeader) {
		t.Fatalf("%v does not match ErrNotLeader", got)
	}
	bare, err := DecodeErrorBody(AppendErrorBody(nil, NameNotLeader, "no leader"))
	if err != nil || bare.Leader != 0 || bare.LeaderAddr != "" || !errors.Is(bare, ErrNotLeader) {
		t.Fatalf("a NotLeaderException without a leader decoded as %+v, %v", bare, err)
	}
	other := &Error{Name: "InternalFailureException", Message: "x", Leader: 3}
	b := AppendError(nil, other)
	if string(b) != string(AppendErrorBody(nil, other.Name, other.Message)) {
		t.Fatal("another error's body carries a leader")
	}
	if errors.Is(NewError("InternalFailureException", "x"), ErrNotLeader) {
		t.Fatal("an internal failure matches ErrNotLeader")
	}
	// A leader after another error's message is trailing garbage.
	b = append(AppendErrorBody(nil, "InternalFailureException", "x"), make([]byte, 10)...)
	if _, err := DecodeErrorBody(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing bytes after an internal failure: %v; want ErrMalformed", err)
	}
	full := AppendError(nil, e)
	for n := len(AppendErrorBody(nil, e.Name, e.Message)) + 1; n < len(full); n++ {
		if _, err := DecodeErrorBody(full[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a NotLeaderException cut at byte %d of %d: %v; want ErrMalformed", n, len(full), err)
		}
	}
}

// FuzzDecodeErrorBody decodes arbitrary error bodies: decoding never
// crashes, and a body that decodes re-encodes to the same bytes.
func FuzzDecodeErrorBody(f *testing.F) {
	f.Add(AppendError(nil, NotLeaderError("not the leader", 3, "10.0.0.3:4568")))
	f.Add(AppendErrorBody(nil, NameNotLeader, "no leader known"))
	f.Add(AppendErrorBody(nil, "ResourceNotFoundException", "no stream"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := DecodeErrorBody(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v does not match ErrMalformed", err)
			}
			return
		}
		again := AppendError(nil, e)
		if e.Name == NameNotLeader && len(again) != len(body) {
			// A NotLeaderException without a leader re-encodes with
			// leader 0 and no address.
			again = AppendErrorBody(nil, e.Name, e.Message)
		}
		if string(again) != string(body) {
			t.Fatalf("re-encoding differs:\n %x\n %x", body, again)
		}
	})
}
