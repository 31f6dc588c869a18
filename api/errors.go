package api

import (
	"errors"
	"fmt"
	"strconv"
)

// Code classifies an error the way Kinesis does, so that both front doors can
// report it under the exception name their clients expect.
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
	// Refusals of authentication and authorization, under AWS's names.
	CodeAccessDenied
	CodeUnrecognizedClient
	CodeInvalidSignature
	CodeMissingAuthenticationToken
	// The key service's refusals, as Kinesis names them (the KMS errors
	// of PutRecord(s), GetRecords and StartStreamEncryption).
	CodeKMSAccessDenied
	CodeKMSDisabled
	CodeKMSInvalidState
	CodeKMSNotFound
	CodeKMSOptInRequired
	CodeKMSThrottling
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

	CodeAccessDenied:               "AccessDeniedException",
	CodeUnrecognizedClient:         "UnrecognizedClientException",
	CodeInvalidSignature:           "InvalidSignatureException",
	CodeMissingAuthenticationToken: "MissingAuthenticationTokenException",

	CodeKMSAccessDenied:  "KMSAccessDeniedException",
	CodeKMSDisabled:      "KMSDisabledException",
	CodeKMSInvalidState:  "KMSInvalidStateException",
	CodeKMSNotFound:      "KMSNotFoundException",
	CodeKMSOptInRequired: "KMSOptInRequired",
	CodeKMSThrottling:    "KMSThrottlingException",
}

// String is the Kinesis exception name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return codeNames[CodeInternal]
}

// CodeByName returns the Code whose exception name is name, and false for a
// name no Code has.
func CodeByName(name string) (Code, bool) {
	for c, n := range codeNames {
		if n == name {
			return Code(c), true
		}
	}
	return CodeInternal, false
}

// Reason says exactly what went wrong where a front door words the error in
// its own way (Kinesis names the account, for instance). Errors whose wording
// is the same at every door have ReasonOther and say it in Detail.
type Reason uint8

// Reasons, with the fields of Error each one fills in.
const (
	ReasonOther             Reason = iota // Detail
	ReasonStreamNotFound                  // Stream
	ReasonStreamExists                    // Stream
	ReasonShardNotFound                   // Stream, Shard
	ReasonConsumerNotFound                // Stream, Consumer
	ReasonConsumerExists                  // Stream, Consumer
	ReasonShardThrottled                  // Stream, Shard: the shard's quota refused the call
	ReasonSeqOtherStream                  // Stream, Shard, Arg: a sequence number of an earlier stream of the name
	ReasonSeqOtherShard                   // Stream, Shard, Arg: a sequence number of another shard
	ReasonSeqBeyondEnd                    // Stream, Shard, Arg: a sequence number past the shard's newest record
	ReasonShardClosed                     // Stream, Shard: already split or merged
	ReasonHashKeyOutOfRange               // Stream, Shard, Arg: a split point outside the shard; Detail is the range
	ReasonNotAdjacent                     // Stream, Shard, Arg: a merge of shards Shard and Arg, which do not touch
	ReasonLimit                           // Detail names the limit; Value and Limit are the numbers
)

// Error is an error of the sluice API as data: how to treat it (Code), what
// exactly went wrong (Reason) and the names and numbers involved. It holds no
// prose meant for one front door: Error words it plainly for logs, the binary
// protocol and the CLI; the Kinesis API words it as AWS does, with its
// account. errors.Is matches it against the sentinels below by Code, and
// against a Reason sentinel (ErrStreamNotFound, ...) by Reason.
type Error struct {
	Code   Code
	Reason Reason
	// Stream, Shard and Consumer name what the error is about ("" if
	// nothing). Shard is a shard id (shardId-000000000007).
	Stream, Shard, Consumer string
	// Arg is the offending input, already shortened for quoting (Clip).
	Arg string
	// Value and Limit are the numbers of a ReasonLimit error.
	Value, Limit int64
	// Detail says what was wrong and what would be right, for the reasons
	// that are worded alike at every door.
	Detail string
	// Err is the underlying cause, if any.
	Err error
}

// Error words e plainly: "stream orders not found", "partition key is 300
// characters; the limit is 256".
func (e *Error) Error() string {
	var msg string
	switch e.Reason {
	case ReasonStreamNotFound:
		msg = "stream " + e.Stream + " not found"
	case ReasonStreamExists:
		msg = "stream " + e.Stream + " already exists"
	case ReasonShardNotFound:
		msg = "shard " + e.Shard + " of stream " + e.Stream + " not found"
	case ReasonConsumerNotFound:
		msg = "consumer " + e.Consumer + " of stream " + e.Stream + " not found"
	case ReasonConsumerExists:
		msg = "consumer " + e.Consumer + " of stream " + e.Stream + " already exists"
	case ReasonShardThrottled:
		msg = "rate exceeded for shard " + e.Shard + " of stream " + e.Stream
	case ReasonSeqOtherStream:
		msg = "sequence number " + e.Arg + " belongs to an earlier stream named " + e.Stream
	case ReasonSeqOtherShard:
		msg = "sequence number " + e.Arg + " did not come from shard " + e.Shard + " of stream " + e.Stream
	case ReasonSeqBeyondEnd:
		msg = "sequence number " + e.Arg + " is beyond the newest record of shard " + e.Shard + " of stream " + e.Stream
	case ReasonShardClosed:
		msg = "shard " + e.Shard + " of stream " + e.Stream + " is closed: it has already been split or merged"
	case ReasonHashKeyOutOfRange:
		msg = "hash key " + e.Arg + " is not within the range " + e.Detail + " of shard " + e.Shard + " of stream " + e.Stream + " (a split point must be above the shard's starting hash key)"
	case ReasonNotAdjacent:
		msg = "shards " + e.Shard + " and " + e.Arg + " of stream " + e.Stream + " are not adjacent: their hash key ranges do not touch"
	default:
		msg = e.Detail
	}
	switch {
	case msg == "" && e.Err != nil:
		return e.Err.Error()
	case msg == "":
		return e.Code.String()
	case e.Err != nil:
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a sentinel that e matches: a Code sentinel
// (ErrNotFound, ...) of the same Code, or a Reason sentinel
// (ErrStreamNotFound, ...) of the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Stream != "" || t.Shard != "" || t.Consumer != "" || t.Arg != "" || t.Detail != "" || t.Err != nil {
		return false
	}
	if t.Reason != ReasonOther {
		return t.Reason == e.Reason
	}
	return t.Code == e.Code
}

// Sentinels for errors.Is. Returned errors carry their names and numbers;
// compare with errors.Is, never with ==.
var (
	ErrInternal           = &Error{Code: CodeInternal}
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrNotFound           = &Error{Code: CodeResourceNotFound}
	ErrInUse              = &Error{Code: CodeResourceInUse}
	ErrLimitExceeded      = &Error{Code: CodeLimitExceeded}
	ErrThroughputExceeded = &Error{Code: CodeThroughputExceeded}
	ErrExpiredIterator    = &Error{Code: CodeExpiredIterator}
	ErrValidation         = &Error{Code: CodeValidation}
	ErrKMSAccessDenied    = &Error{Code: CodeKMSAccessDenied}
	ErrKMSDisabled        = &Error{Code: CodeKMSDisabled}
	ErrKMSInvalidState    = &Error{Code: CodeKMSInvalidState}
	ErrKMSNotFound        = &Error{Code: CodeKMSNotFound}

	ErrStreamNotFound   = &Error{Code: CodeResourceNotFound, Reason: ReasonStreamNotFound}
	ErrShardNotFound    = &Error{Code: CodeResourceNotFound, Reason: ReasonShardNotFound}
	ErrConsumerNotFound = &Error{Code: CodeResourceNotFound, Reason: ReasonConsumerNotFound}
)

// Errorf returns an error of code whose Detail is the formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Detail: fmt.Sprintf(format, args...)}
}

// StreamNotFound is the error for a stream that does not exist.
func StreamNotFound(stream string) *Error {
	return &Error{Code: CodeResourceNotFound, Reason: ReasonStreamNotFound, Stream: stream}
}

// ShardNotFound is the error for a shard id that names no shard of stream.
func ShardNotFound(stream, shard string) *Error {
	return &Error{Code: CodeResourceNotFound, Reason: ReasonShardNotFound, Stream: stream, Shard: shard}
}

// ConsumerNotFound is the error for a consumer stream does not have.
func ConsumerNotFound(stream, consumer string) *Error {
	return &Error{Code: CodeResourceNotFound, Reason: ReasonConsumerNotFound, Stream: stream, Consumer: consumer}
}

// LimitError is the error for a value over (or under) a limit; detail names
// the limit ("stream count", ...) and the wording is
// "detail is value; the limit is limit".
func LimitError(c Code, detail string, value, limit int64) *Error {
	return &Error{Code: c, Reason: ReasonLimit, Value: value, Limit: limit,
		Detail: detail + " is " + strconv.FormatInt(value, 10) + "; the limit is " + strconv.FormatInt(limit, 10)}
}

// PublicMessage words err for a client. An internal failure is worded
// without its cause, which names server paths and system calls and belongs
// in the server's log; every other error is worded in full, as Error does.
func PublicMessage(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return "internal failure; the server's log has the cause"
	}
	if e.Code != CodeInternal || e.Err == nil {
		return e.Error()
	}
	if e.Detail == "" {
		return "internal failure; the server's log has the cause"
	}
	return e.Detail + ": internal failure; the server's log has the cause"
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

// Clip shortens user input quoted in error messages to 64 bytes.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
