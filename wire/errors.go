package wire

import (
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/api"
)

var (
	// ErrClosed is returned by calls on a Client, Producer, Consumer or
	// Subscription after Close.
	ErrClosed = errors.New("wire: closed")

	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("wire: server closed")

	// ErrConnectionLost is matched by the error of every call that was in
	// flight when the connection broke or the server went away. Such a call
	// may or may not have taken effect.
	ErrConnectionLost = errors.New("wire: connection lost")

	// ErrHandshake is matched by Dial errors when the peer does not speak
	// this protocol (wrong magic, short or garbled hello).
	ErrHandshake = errors.New("wire: handshake failed")

	// ErrVersion is matched by Dial errors when the server does not speak
	// this protocol version.
	ErrVersion = errors.New("wire: unsupported protocol version")

	// ErrAuthRequired is matched by Dial errors when the server requires
	// authentication and the client has no credentials to give.
	ErrAuthRequired = errors.New("wire: the server requires authentication")

	// ErrServerAuth is matched by Dial errors when the server failed to
	// prove that it knows the secret of the client's access key: it is not
	// the server the client means, or it has other users.
	ErrServerAuth = errors.New("wire: the server did not prove it knows the secret access key")

	// ErrMalformed is matched by every *DecodeError: a message body that does
	// not follow the format.
	ErrMalformed = errors.New("wire: malformed message")

	// ErrFrameTooLarge is returned for a frame larger than the receiver's
	// maximum frame size (announced in the handshake).
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrCorruptRecord is matched by a read or subscription error when a
	// record frame in a response fails its CRC, its bounds or its sequence
	// order: the bytes the client received are not the bytes that were
	// stored. The error also matches record.ErrCorrupt where a frame failed
	// to decode.
	ErrCorruptRecord = errors.New("wire: corrupt record in response")
)

// Error is an error reported by the server: the Kinesis exception name of
// its classification and a message that says what was wrong. errors.Is
// matches it against the engine's sentinels (engine.ErrNotFound,
// engine.ErrThroughputExceeded, ...) by Code.
type Error struct {
	// Code is the engine classification of Name (CodeInternal for a name
	// this client does not know).
	Code api.Code
	// Name is the exception name as the server sent it, e.g.
	// "ResourceNotFoundException".
	Name string
	// Message says what was wrong and what would be right.
	Message string
	// Leader and LeaderAddr are, for a NotLeaderException, the node that
	// leads the shard and its binary protocol's address, when the node
	// that answered knows them (0 and "" otherwise).
	Leader     uint64
	LeaderAddr string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Is reports whether target is a Code sentinel of the api package
// (api.ErrNotFound, ...), a *wire.Error without a message of the same Code,
// or ErrNotLeader for a NotLeaderException.
func (e *Error) Is(target error) bool {
	if target == ErrNotLeader {
		return e.Name == NameNotLeader
	}
	switch t := target.(type) {
	case *api.Error:
		return *t == api.Error{Code: t.Code} && t.Code == e.Code
	case *Error:
		return t.Message == "" && t.Code == e.Code
	}
	return false
}

// NewError builds an *Error from an exception name and message.
func NewError(name, msg string) *Error {
	return &Error{Code: CodeOfName(name), Name: name, Message: msg}
}

// CodeOfName maps an exception name to its Code.
func CodeOfName(name string) api.Code {
	c, _ := api.CodeByName(name)
	return c
}

// DecodeError says where a message body failed to decode. It matches
// ErrMalformed.
type DecodeError struct {
	// Field is the value being read.
	Field string
	// Offset is its byte offset in the body.
	Offset int
	// Need and Left are the bytes the field needed and the bytes that were
	// left, for a truncated body; Detail explains any other failure.
	Need, Left int
	Detail     string
}

func (e *DecodeError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("wire: malformed message: %s at byte %d: %s", e.Field, e.Offset, e.Detail)
	}
	return fmt.Sprintf("wire: malformed message: %s at byte %d needs %d bytes; %d are left", e.Field, e.Offset, e.Need, e.Left)
}

// Is reports whether target is ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// ErrorOf converts an engine error to its wire form. An internal failure's
// cause stays out of the message (the server logs it).
func ErrorOf(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Code: api.CodeOf(err), Name: api.CodeOf(err).String(), Message: api.PublicMessage(err)}
}
