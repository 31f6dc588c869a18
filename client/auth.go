package client

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/sluicedb/sluice/wire"
)

// Credentials are an access key: the identity a client authenticates as on
// a server that requires it. The secret never crosses the wire: the client
// proves it knows it (wire/auth.go), and checks that the server knows it
// too.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

func (c *Credentials) check() error {
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errors.New("client: credentials need both an access key id and a secret access key")
	case len(c.AccessKeyID) > wire.MaxAccessKeyIDLen:
		return fmt.Errorf("client: access key id is %d bytes; the limit is %d", len(c.AccessKeyID), wire.MaxAccessKeyIDLen)
	}
	return nil
}

// maxAuthFrame bounds the frames of the exchange the client reads: a
// challenge, a proof, or an error.
const maxAuthFrame = 64 << 10

// authRequestID is the request id of the Authenticate request; the
// connection's requests are numbered after it.
const authRequestID = 1

// authenticate runs the client's side of the challenge-response after the
// hellos (clientHello and serverHello, as sent): it reads the server's
// challenge, sends its proof, reads the server's and checks it. A server
// that refuses the key answers with an error (returned as *wire.Error,
// e.g. UnrecognizedClientException); a server whose proof is wrong does
// not know the secret and is refused with ErrServerAuth.
func authenticate(nc net.Conn, br *bufio.Reader, opts ClientOptions, clientHello, serverHello [wire.HelloSize]byte) error {
	creds := opts.Credentials
	var ch wire.Challenge
	if err := readAuthFrame(br, opts.MaxFrameSize, wire.OpChallenge, 0, &ch); err != nil {
		return err
	}
	t := wire.AuthTranscript{ClientHello: clientHello, ServerHello: serverHello, ServerNonce: ch.Nonce, AccessKeyID: creds.AccessKeyID}
	if _, err := rand.Read(t.ClientNonce[:]); err != nil {
		return fmt.Errorf("%w: client nonce: %w", wire.ErrHandshake, err)
	}
	key := wire.DeriveAuthKey(creds.SecretAccessKey)
	req := wire.ReqAuthenticate{AccessKeyID: creds.AccessKeyID, Nonce: t.ClientNonce, Proof: t.ClientProof(&key)}
	b, start := wire.BeginFrame(make([]byte, 0, wire.MaxAuthenticateSize))
	b = req.AppendTo(b)
	wire.EndFrame(b, start, wire.OpAuthenticate, 0, authRequestID, 0)
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("%w: send Authenticate: %w", wire.ErrHandshake, err)
	}
	var resp wire.RespAuthenticate
	if err := readAuthFrame(br, opts.MaxFrameSize, wire.OpAuthenticate, authRequestID, &resp); err != nil {
		return err
	}
	want := t.ServerProof(&key)
	if !hmac.Equal(want[:], resp.Proof[:]) {
		return fmt.Errorf("%w of access key %s: it may not be the server you meant to reach, or it has another users file", wire.ErrServerAuth, creds.AccessKeyID)
	}
	return nil
}

// readAuthFrame reads the frame of the exchange the client expects next,
// op under request id, and decodes its body into m. An error response or a
// GoAway is returned as the server's *wire.Error; any other frame is a
// handshake failure.
func readAuthFrame(br *bufio.Reader, maxFrame int, op wire.Op, id uint64, m wire.Message) error {
	var hb [wire.HeaderSize]byte
	if _, err := io.ReadFull(br, hb[:]); err != nil {
		return fmt.Errorf("%w: waiting for the server's %v: %w", wire.ErrHandshake, op, unexpected(err))
	}
	h, err := wire.ParseHeader(hb[:], min(maxFrame, maxAuthFrame))
	if err != nil {
		return fmt.Errorf("%w: %w", wire.ErrHandshake, err)
	}
	body := make([]byte, h.Size-wire.HeaderSize)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("%w: reading the server's %v: %w", wire.ErrHandshake, h.Op, unexpected(err))
	}
	switch {
	case h.Op == wire.OpGoAway && h.ID == 0, h.Op == op && h.ID == id && h.Flags == wire.FlagError:
		e, err := wire.DecodeErrorBody(body)
		if err != nil {
			return fmt.Errorf("%w: the server's %v: %w", wire.ErrHandshake, h.Op, err)
		}
		return e
	case h.Op != op || h.ID != id || h.Flags != 0:
		return fmt.Errorf("%w: the server sent %v (request id %d, flags %#02x) where its %v belongs", wire.ErrHandshake, h.Op, h.ID, h.Flags, op)
	}
	if err := wire.DecodeMessage(body, m); err != nil {
		return fmt.Errorf("%w: the server's %v: %w", wire.ErrHandshake, op, err)
	}
	return nil
}

// unexpected turns a clean end of stream in the middle of the exchange
// into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
