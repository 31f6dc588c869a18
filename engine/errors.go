package engine

import (
	"errors"
	"fmt"
)

// Code classifies an engine error the way Kinesis does, so that both front
// doors can report it under the exception name its clients expect.
type Code uint8

// Error codes. Each maps to one Kinesis exception name (Code.String).
const (
	CodeInternal Code = iota
	CodeInvalidArgument
	CodeResourceNotFound
	CodeResourceInUse
	CodeLimitExceeded
	CodeThroughputExceeded
	CodeExpiredIterator
	CodeValidation
)

var codeNames = [...]string{
	CodeInternal:           "InternalFailureException",
	CodeInvalidArgument:    "InvalidArgumentException",
	CodeResourceNotFound:   "ResourceNotFoundException",
	CodeResourceInUse:      "ResourceInUseException",
	CodeLimitExceeded:      "LimitExceededException",
	CodeThroughputExceeded: "ProvisionedThroughputExceededException",
	CodeExpiredIterator:    "ExpiredIteratorException",
	CodeValidation:         "ValidationException",
}

// String is the Kinesis exception name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return codeNames[CodeInternal]
}

// Error is an engine error with its Kinesis classification and a message that
// says what was wrong. errors.Is(err, ErrNotFound) and the like match on Code.
type Error struct {
	Code Code
	Msg  string
	Err  error // underlying cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code; the sentinels
// below exist for that comparison.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Msg == ""
}

// Sentinels for errors.Is. Returned errors carry a specific message; compare
// with errors.Is, never with ==.
var (
	ErrInternal           = &Error{Code: CodeInternal}
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrNotFound           = &Error{Code: CodeResourceNotFound}
	ErrInUse              = &Error{Code: CodeResourceInUse}
	ErrLimitExceeded      = &Error{Code: CodeLimitExceeded}
	ErrThroughputExceeded = &Error{Code: CodeThroughputExceeded}
	ErrExpiredIterator    = &Error{Code: CodeExpiredIterator}
	ErrValidation         = &Error{Code: CodeValidation}
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("engine: closed")
)

func errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the classification of any error: the Code of an *Error in its
// chain, CodeInternal otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Per-record put errors are preallocated so that a throttled record costs no
// allocation.
var (
	errPutThrottled = &Error{Code: CodeThroughputExceeded, Msg: "Rate exceeded for shard"}
	errShardClosed  = &Error{Code: CodeResourceInUse, Msg: "shard is closed"}
)
