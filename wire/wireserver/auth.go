package wireserver

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/wire"
)

// authState is who a connection runs as and what it has learned about the
// streams it touches. Only the reader goroutine uses it after the
// handshake.
type authState struct {
	// user is who the connection authenticated as (nil on a server
	// without Auth). It is set before the reader starts and never changes.
	user   *auth.User
	remote string // the client's address, for the audit log
	// current is user as the users file in force has it (its policy), as
	// of the Store's generation gen; revoked is set once the file in force
	// no longer has the key. The reader goroutine alone uses them.
	current *auth.User
	gen     uint64
	revoked bool
	authz   authzCache
}

// errRevoked ends a connection whose access key a reload of the users file
// removed (or gave another secret).
var errRevoked = errors.New("the access key was removed from the server's users")

// identity is the connection's identity as the audit log names it.
func (a *authState) identity() string {
	if a.user == nil {
		return auth.Anonymous
	}
	return a.user.ARN
}

// The messages of a refused authentication.
const (
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgInvalidProof       = "The proof of the secret access key we calculated does not match the proof you provided. Check your secret access key."
	msgAuthFirst          = "the connection must authenticate before any request: answer the server's challenge with an Authenticate (0x31) request"
)

// authenticate answers the hello h of a client on a server that requires
// authentication and runs the challenge-response (wire/auth.go): the
// server hello and the challenge go out in one write, then exactly one
// Authenticate request must come back within the handshake timeout, whose
// deadline is still set. On success the connection runs as the key's user.
// Anything else is answered with an error (under the request's id when it
// has one) and a GoAway, and the connection closes: nothing the client sent
// before authenticating reaches the engine.
func (c *conn) authenticate(h wire.Hello) bool {
	opts := &c.srv.opts
	var t wire.AuthTranscript
	t.ClientHello = h.Marshal()
	t.ServerHello = wire.Hello{Version: wire.Version, Features: wire.FeatureAuth, MaxFrame: uint32(opts.MaxFrameSize)}.Marshal()
	out := append(make([]byte, 0, wire.HelloSize+wire.HeaderSize+wire.NonceSize), t.ServerHello[:]...)
	if h.Features&wire.FeatureAuth == 0 {
		c.log.Info("refusing a client that does not authenticate (its hello does not set feature bit 0x1)")
		c.refuseAuth(out, 0, 0, &wire.Error{Name: wire.NameMissingAuth, Message: wire.AuthRequiredMessage})
		return false
	}
	rand.Read(t.ServerNonce[:])
	out, start := wire.BeginFrame(out)
	out = (&wire.Challenge{Nonce: t.ServerNonce}).AppendTo(out)
	wire.EndFrame(out, start, wire.OpChallenge, 0, 0, 0)
	if _, err := c.nc.Write(out); err != nil {
		return false
	}

	var hdr [wire.HeaderSize]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		c.violation("authentication failed: no Authenticate request", "err", err)
		return false
	}
	fh, err := wire.ParseHeader(hdr[:], wire.MaxAuthenticateSize)
	var fe *wire.FrameError
	oversize := errors.As(err, &fe) && fe.Detail == ""
	switch {
	case fh.Op != wire.OpAuthenticate && (err == nil || oversize):
		c.violation("authentication failed: a request before Authenticate", "op", fh.Op, "id", fh.ID)
		c.refuseAuth(nil, fh.Op, fh.ID, &wire.Error{Name: wire.NameMissingAuth, Message: fmt.Sprintf("%v request refused: %s", fh.Op, msgAuthFirst)})
		return false
	case err != nil:
		c.violation("authentication failed: bad frame", "err", err)
		id := fh.ID
		if !oversize {
			id = 0 // the header cannot be trusted: answer with the GoAway alone
		}
		c.refuseAuth(nil, fh.Op, id, &wire.Error{Name: "InvalidArgumentException", Message: fmt.Sprintf("the Authenticate frame is %d bytes, at most %d: %v", fh.Size, wire.MaxAuthenticateSize, err)})
		return false
	case fh.ID == 0 || fh.Flags != 0:
		c.violation("authentication failed: bad Authenticate header", "id", fh.ID, "flags", fh.Flags)
		c.refuseAuth(nil, fh.Op, fh.ID, &wire.Error{Name: "InvalidArgumentException", Message: "an Authenticate request carries a non-zero request id and flags 0"})
		return false
	}
	var body [wire.MaxAuthenticateSize - wire.HeaderSize]byte
	n := fh.Size - wire.HeaderSize
	if _, err := io.ReadFull(c.br, body[:n]); err != nil {
		c.violation("authentication failed: Authenticate request cut short", "err", err)
		return false
	}
	var req wire.ReqAuthenticate
	if err := wire.DecodeMessage(body[:n], &req); err != nil {
		c.violation("authentication failed: malformed Authenticate request", "err", err)
		c.refuseAuth(nil, fh.Op, fh.ID, &wire.Error{Name: "InvalidArgumentException", Message: fmt.Sprintf("malformed Authenticate request: %v", err)})
		return false
	}
	gen := opts.Auth.Generation() // before the lookup: a reload in between is noticed at the first request
	u := opts.Auth.Lookup(req.AccessKeyID)
	if u == nil {
		c.log.Info("authentication failed: unknown access key id", "access_key_id", req.AccessKeyID)
		c.auditAuth(auth.Anonymous, wire.NameUnrecognizedClient)
		c.refuseAuth(nil, fh.Op, fh.ID, &wire.Error{Name: wire.NameUnrecognizedClient, Message: msgUnrecognizedClient})
		return false
	}
	t.ClientNonce, t.AccessKeyID = req.Nonce, req.AccessKeyID
	key := wire.DeriveAuthKey(u.SecretAccessKey)
	want := t.ClientProof(&key)
	if !hmac.Equal(want[:], req.Proof[:]) {
		c.log.Info("authentication failed: wrong proof", "access_key_id", req.AccessKeyID, "user", u.ARN)
		c.auditAuth(u.ARN, wire.NameInvalidSignature)
		c.refuseAuth(nil, fh.Op, fh.ID, &wire.Error{Name: wire.NameInvalidSignature, Message: msgInvalidProof})
		return false
	}
	out, start = wire.BeginFrame(out[:0])
	out = (&wire.RespAuthenticate{Proof: t.ServerProof(&key)}).AppendTo(out)
	wire.EndFrame(out, start, wire.OpAuthenticate, 0, fh.ID, 0)
	if _, err := c.nc.Write(out); err != nil {
		return false
	}
	c.nc.SetDeadline(time.Time{})
	c.user, c.current, c.gen = u, u, gen
	c.log = c.log.With("user", u.Name)
	return true
}

// refuseAuth ends a connection that did not authenticate: after prefix (the
// server hello, if not yet sent) it sends e as the response to request id
// (if it has one) and as a GoAway, and closes without losing them.
func (c *conn) refuseAuth(prefix []byte, op wire.Op, id uint64, e *wire.Error) {
	b := prefix
	var start int
	if id != 0 {
		b, start = wire.BeginFrame(b)
		b = wire.AppendErrorBody(b, e.Name, e.Message)
		wire.EndFrame(b, start, op, wire.FlagError, id, 0)
	}
	b, start = wire.BeginFrame(b)
	b = (&wire.GoAway{Name: e.Name, Message: e.Message}).AppendTo(b)
	wire.EndFrame(b, start, wire.OpGoAway, 0, 0, 0)
	if _, err := c.nc.Write(b); err == nil {
		c.linger()
	}
}

// auditAuth logs a refused authentication.
func (c *conn) auditAuth(identity, name string) {
	c.srv.opts.Audit.Log(auth.AuditEvent{
		Time: time.Now(), Identity: identity, Action: actionAuthenticate, Resource: auth.AllResources,
		Door: "wire", Outcome: "error:" + name, Remote: c.remote,
	})
}

// currentUser returns the connection's user as the users file in force has
// it, looking it up again after a reload. After a reload that removed the
// key, changed its secret or gave it to another user it returns nil and
// marks the connection revoked: the reader then closes it.
func (c *conn) currentUser() *auth.User {
	store := c.srv.opts.Auth
	if g := store.Generation(); g != c.gen {
		c.gen = g
		u := store.Lookup(c.user.AccessKeyID)
		if u == nil || u.ARN != c.user.ARN || u.SecretAccessKey != c.user.SecretAccessKey {
			c.log.Info("closing the connection: a reload of the users file removed its access key", "access_key_id", c.user.AccessKeyID)
			c.revoked = true
			c.current = nil
			return nil
		}
		c.current = u
	}
	return c.current
}
