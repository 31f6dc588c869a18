package wire

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Authentication (docs/protocol.md, "Authentication"). A server that
// requires it sets FeatureAuth in its hello; a client that can authenticate
// sets it in its own. Right after the hellos the server sends a challenge
// and the client must authenticate before anything else:
//
//	client                                          server
//	  | hello (features: AUTH) ------------------------> |
//	  | <--------------------- hello (features: AUTH)    |
//	  | <------------ Challenge, id 0: server nonce      |
//	  | Authenticate, id N: key id, client nonce, ------> |  looks up the key,
//	  |                     client proof                 |  checks the proof
//	  | <----- Authenticate, id N: server proof          |
//	  |        (or an error response, GoAway, close)     |
//	 checks the server proof
//
// The bodies:
//
//	Challenge        +---------------------+
//	(server, id 0)   | server nonce: 32 B  |
//	                 +---------------------+
//	Authenticate     +--------------------+--------------------+---------------------+
//	(request)        | access key id: str | client nonce: 32 B | client proof: 32 B  |
//	                 +--------------------+--------------------+---------------------+
//	Authenticate     +---------------------+
//	(response)       | server proof: 32 B  |
//	                 +---------------------+
//
// Both proofs are HMAC-SHA256 under a key derived from the secret access
// key, K = HMAC-SHA256(key: secret, message: "sluice wire auth v1"), over
// the same transcript with a different label:
//
//	+-------------------+--------------+--------------+--------------+--------------+--------------------+
//	| label             | client hello | server hello | server nonce | client nonce | access key id: str |
//	| (ASCII, 32 bytes) | 16 B         | 16 B         | 32 B         | 32 B         | u16 length, bytes  |
//	+-------------------+--------------+--------------+--------------+--------------+--------------------+
//
// The server's fresh nonce makes a recorded Authenticate useless on another
// connection; the hellos bind the proof to this connection's parameters;
// the labels keep a client proof from serving as a server proof. The
// secret never crosses the wire.

// The authentication exchange's constants. They are part of the protocol:
// changing any of them is a new feature bit.
const (
	// FeatureAuth is the hello feature bit of authentication: a client sets
	// it when it can authenticate, a server when the connection must.
	FeatureAuth uint32 = 1 << 0

	// NonceSize is the size of the server's and the client's nonces.
	NonceSize = 32
	// ProofSize is the size of a proof: an HMAC-SHA256.
	ProofSize = sha256.Size
	// MaxAccessKeyIDLen is the longest access key id an Authenticate
	// request may carry (AWS's limit).
	MaxAccessKeyIDLen = 128
	// MaxAuthenticateSize is the largest Authenticate request frame a
	// server reads.
	MaxAuthenticateSize = HeaderSize + 2 + MaxAccessKeyIDLen + NonceSize + ProofSize

	// AuthKeyLabel is the message of the key derivation.
	AuthKeyLabel = "sluice wire auth v1"
	// ClientProofLabel and ServerProofLabel open the transcript of the
	// client's and the server's proof.
	ClientProofLabel = "sluice wire auth v1 client proof"
	ServerProofLabel = "sluice wire auth v1 server proof"
)

// AuthKey is the key the proofs of one secret access key are computed with.
type AuthKey [sha256.Size]byte

// DeriveAuthKey derives the proof key of a secret access key.
func DeriveAuthKey(secret string) AuthKey {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(AuthKeyLabel))
	var k AuthKey
	m.Sum(k[:0])
	return k
}

// AuthTranscript is what both proofs of one connection cover.
type AuthTranscript struct {
	ClientHello, ServerHello [HelloSize]byte
	ServerNonce, ClientNonce [NonceSize]byte
	AccessKeyID              string
}

// ClientProof is the proof the client sends: it shows the server that the
// client knows the secret of AccessKeyID.
func (t *AuthTranscript) ClientProof(k *AuthKey) [ProofSize]byte {
	return t.proof(k, ClientProofLabel)
}

// ServerProof is the proof the server answers with: it shows the client
// that the server knows the same secret.
func (t *AuthTranscript) ServerProof(k *AuthKey) [ProofSize]byte {
	return t.proof(k, ServerProofLabel)
}

func (t *AuthTranscript) proof(k *AuthKey, label string) [ProofSize]byte {
	m := hmac.New(sha256.New, k[:])
	b := make([]byte, 0, len(label)+2*HelloSize+2*NonceSize+2+len(t.AccessKeyID))
	b = append(b, label...)
	b = append(b, t.ClientHello[:]...)
	b = append(b, t.ServerHello[:]...)
	b = append(b, t.ServerNonce[:]...)
	b = append(b, t.ClientNonce[:]...)
	b = AppendStr(b, t.AccessKeyID)
	m.Write(b)
	var p [ProofSize]byte
	m.Sum(p[:0])
	return p
}

// Challenge is the body of the server's OpChallenge frame: its nonce.
type Challenge struct{ Nonce [NonceSize]byte }

func (m *Challenge) AppendTo(b []byte) []byte { return append(b, m.Nonce[:]...) }
func (m *Challenge) DecodeFrom(d *Decoder)    { d.fixed("server nonce", m.Nonce[:]) }

// ReqAuthenticate is the body of an OpAuthenticate request: str access key
// id | 32 B client nonce | 32 B client proof.
type ReqAuthenticate struct {
	AccessKeyID string
	Nonce       [NonceSize]byte
	Proof       [ProofSize]byte
}

func (m *ReqAuthenticate) AppendTo(b []byte) []byte {
	b = AppendStr(b, m.AccessKeyID)
	b = append(b, m.Nonce[:]...)
	return append(b, m.Proof[:]...)
}

func (m *ReqAuthenticate) DecodeFrom(d *Decoder) {
	m.AccessKeyID = d.str("access key id")
	if d.err == nil && (m.AccessKeyID == "" || len(m.AccessKeyID) > MaxAccessKeyIDLen) {
		d.off -= 2 + len(m.AccessKeyID)
		d.invalid("access key id", "%d bytes; an access key id has 1 to %d", len(m.AccessKeyID), MaxAccessKeyIDLen)
	}
	d.fixed("client nonce", m.Nonce[:])
	d.fixed("client proof", m.Proof[:])
}

// RespAuthenticate is the body of a successful OpAuthenticate response: the
// server's proof.
type RespAuthenticate struct{ Proof [ProofSize]byte }

func (m *RespAuthenticate) AppendTo(b []byte) []byte { return append(b, m.Proof[:]...) }
func (m *RespAuthenticate) DecodeFrom(d *Decoder)    { d.fixed("server proof", m.Proof[:]) }

// fixed reads len(dst) bytes into dst.
func (d *Decoder) fixed(field string, dst []byte) {
	if v := d.take(field, len(dst)); v != nil {
		copy(dst, v)
	} else {
		clear(dst)
	}
}

// Err is the decoder's first failure so far, without Finish's check for
// bytes left over: a caller that reads only the first fields of a body.
func (d *Decoder) Err() error { return d.err }

// AuthRequiredMessage is what a server that requires authentication tells
// a client whose hello did not offer it, in a GoAway.
const AuthRequiredMessage = "this server requires authentication (hello feature bit 0x1): use a client that supports it and give it an access key"

// Exception names of authentication and authorization, as the Kinesis API
// names them.
const (
	// NameMissingAuth: the client did not authenticate.
	NameMissingAuth = "MissingAuthenticationTokenException"
	// NameUnrecognizedClient: the access key id is unknown.
	NameUnrecognizedClient = "UnrecognizedClientException"
	// NameInvalidSignature: the proof does not match the key's secret.
	NameInvalidSignature = "InvalidSignatureException"
	// NameAccessDenied: the identity's policies do not allow the request.
	NameAccessDenied = "AccessDeniedException"
)
