package wireserver

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

// fuzzAuthServer shares the fuzz engine (stream "f") with a server that
// requires authentication.
var fuzzAuthServer struct {
	once sync.Once
	srv  *Server
}

func getFuzzAuthServer(t testing.TB) *Server {
	getFuzzServer(t)
	fuzzAuthServer.once.Do(func() {
		fuzzAuthServer.srv = NewServer(fuzzServer.eng, ServerOptions{Logger: discardLogger(), MaxFrameSize: 1 << 20, IdleTimeout: -1, Auth: testStore(t)})
	})
	return fuzzAuthServer.srv
}

// authSeedFrames are what a client might send after an AUTH hello: an
// Authenticate of each kind, and requests that do not authenticate first.
func authSeedFrames() [][]byte {
	auth := func(id string) []byte {
		return frame(wire.OpAuthenticate, 0, 1, (&wire.ReqAuthenticate{AccessKeyID: id}).AppendTo(nil))
	}
	put := frame(wire.OpPutRecord, 0, 2, putRecordBody("f", "k", "fuzz"))
	return [][]byte{
		append(auth(adminKey.AccessKeyID), put...),
		auth("AKIANOBODY0000000001"),
		frame(wire.OpAuthenticate, 0, 1, []byte{3, 0, 'A', 'K', 'I'}),
		frame(wire.OpAuthenticate, 0, 0, nil),
		frame(wire.OpAuthenticate, wire.FlagError, 1, nil),
		put,
		frame(wire.OpPing, 0, 1, []byte("x")),
		frame(wire.OpChallenge, 0, 0, make([]byte, wire.NonceSize)),
		{0xFF, 0xFF, 0xFF, 0x00, byte(wire.OpAuthenticate), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		{5, 0, 0, 0, 1, 0, 0, 0},
	}
}

// FuzzAuthenticate feeds arbitrary bytes after an AUTH hello (or, with a
// leading 0xFF, after a hello without the bit) to a connection of a server
// that requires authentication. The server must not crash, every frame it
// sends must parse, it must never accept the Authenticate (the fuzzer
// cannot know the random nonce's proof), and no request may reach the
// engine.
func FuzzAuthenticate(f *testing.F) {
	for _, s := range authSeedFrames() {
		f.Add(s)
	}
	f.Add([]byte{0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := getFuzzAuthServer(t)
		features := wire.FeatureAuth
		if len(data) > 0 && data[0] == 0xFF {
			features, data = 0, data[1:]
		}
		h := wire.Hello{Version: wire.Version, Features: features, MaxFrame: 1 << 20}.Marshal()
		before := storedRecords(t)
		mc := &memConn{in: bytes.NewReader(append(h[:], data...))}
		c := newConn(srv, mc)
		done := make(chan struct{})
		go func() {
			c.serve()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the server did not finish a connection whose input ended")
		}
		if c.user != nil {
			t.Fatalf("the connection authenticated as %s without the secret", c.user.ARN)
		}
		out := mc.output()
		sh, err := wire.ReadHello(bytes.NewReader(out))
		if err != nil || sh.Status != wire.StatusOK || sh.Features&wire.FeatureAuth == 0 {
			t.Fatalf("server hello %+v (%v); want status 0 with AUTH", sh, err)
		}
		for out = out[wire.HelloSize:]; len(out) > 0; {
			fh, err := wire.ParseHeader(out, 1<<20)
			if err != nil || fh.Size > len(out) {
				t.Fatalf("the server sent a bad frame header %+v: %v", fh, err)
			}
			body := out[wire.HeaderSize:fh.Size]
			out = out[fh.Size:]
			switch {
			case fh.Op == wire.OpChallenge && fh.ID == 0:
				if err := wire.DecodeMessage(body, &wire.Challenge{}); err != nil {
					t.Fatalf("bad challenge: %v", err)
				}
			case fh.Op == wire.OpGoAway || fh.Flags&wire.FlagError != 0:
				if _, err := wire.DecodeErrorBody(body); err != nil {
					t.Fatalf("the server sent a bad error body: %v", err)
				}
			default:
				t.Fatalf("the server answered %+v to a client that did not authenticate", fh)
			}
		}
		if after := storedRecords(t); after != before {
			t.Fatalf("the stream went from %d to %d records on a connection that did not authenticate", before, after)
		}
	})
}

// FuzzClientAuth feeds arbitrary bytes as the challenge and the answer of
// a server that requires authentication to a client with credentials. The
// client must not crash and must not accept the server: no bytes can hold
// the proof of a nonce the client has just drawn.
func FuzzClientAuth(f *testing.F) {
	nonce := make([]byte, wire.NonceSize)
	f.Add(append(frame(wire.OpChallenge, 0, 0, nonce), frame(wire.OpAuthenticate, 0, 1, make([]byte, wire.ProofSize))...))
	f.Add(append(frame(wire.OpChallenge, 0, 0, nonce), frame(wire.OpAuthenticate, wire.FlagError, 1,
		wire.AppendErrorBody(nil, wire.NameInvalidSignature, "no"))...))
	f.Add(frame(wire.OpGoAway, 0, 0, wire.AppendErrorBody(nil, wire.NameMissingAuth, "no")))
	f.Add(frame(wire.OpChallenge, 0, 0, nonce[:5]))
	f.Add(append(frame(wire.OpChallenge, 0, 0, nonce), frame(wire.OpPing, 0, 1, nil)...))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0x7F})
	f.Fuzz(func(t *testing.T, data []byte) {
		sh := wire.Hello{Version: wire.Version, Features: wire.FeatureAuth, MaxFrame: 1 << 20}.Marshal()
		mc := &memConn{in: bytes.NewReader(append(sh[:], data...))}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.NewClient(ctx, mc, client.ClientOptions{MaxFrameSize: 1 << 20, Credentials: adminKey})
		if err == nil {
			c.Close()
			t.Fatal("the client accepted a server that cannot know its secret")
		}
		if ctx.Err() != nil {
			t.Fatal("the handshake did not end when the server's bytes did")
		}
	})
}
