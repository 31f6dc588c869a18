package kinesis

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluicedb/sluice/api"
)

// ErrorCode is the name of an error of the Kinesis API as clients see it, in
// the X-Amzn-ErrorType header and the "__type" member of the error body. The
// AWS SDKs map these names to their exception types, so they must be exact.
type ErrorCode string

// Error codes modeled by the Kinesis API (aws-sdk-go-v2 service/kinesis
// types/errors.go).
const (
	CodeAccessDenied                  ErrorCode = "AccessDeniedException"
	CodeDryRunOperation               ErrorCode = "DryRunOperationException"
	CodeExpiredIterator               ErrorCode = "ExpiredIteratorException"
	CodeExpiredNextToken              ErrorCode = "ExpiredNextTokenException"
	CodeInternalFailure               ErrorCode = "InternalFailureException"
	CodeInvalidArgument               ErrorCode = "InvalidArgumentException"
	CodeKMSAccessDenied               ErrorCode = "KMSAccessDeniedException"
	CodeKMSDisabled                   ErrorCode = "KMSDisabledException"
	CodeKMSInvalidState               ErrorCode = "KMSInvalidStateException"
	CodeKMSNotFound                   ErrorCode = "KMSNotFoundException"
	CodeKMSOptInRequired              ErrorCode = "KMSOptInRequired"
	CodeKMSThrottling                 ErrorCode = "KMSThrottlingException"
	CodeLimitExceeded                 ErrorCode = "LimitExceededException"
	CodeProvisionedThroughputExceeded ErrorCode = "ProvisionedThroughputExceededException"
	CodeResourceInUse                 ErrorCode = "ResourceInUseException"
	CodeResourceNotFound              ErrorCode = "ResourceNotFoundException"
	CodeValidation                    ErrorCode = "ValidationException"
)

// Error codes of the AWS JSON/CBOR protocol framework, answered before an
// operation runs (the names kinesalite reproduces from AWS).
const (
	CodeSerialization              ErrorCode = "SerializationException"
	CodeUnknownOperation           ErrorCode = "UnknownOperationException"
	CodeMissingAuthenticationToken ErrorCode = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        ErrorCode = "IncompleteSignatureException"
	CodeInvalidSignature           ErrorCode = "InvalidSignatureException"
	CodeUnrecognizedClient         ErrorCode = "UnrecognizedClientException"

	codeNone ErrorCode = "" // a bare HTTP status, see Error.Code
)

const (
	statusClientError           = http.StatusBadRequest
	statusServerError           = http.StatusInternalServerError
	statusRequestEntityTooLarge = http.StatusRequestEntityTooLarge
)

// Status returns the HTTP status AWS answers an error code with: 500 for
// InternalFailureException (the only server fault of the model), 400 for
// every other code.
func (c ErrorCode) Status() int {
	if c == CodeInternalFailure {
		return statusServerError
	}
	return statusClientError
}

// Error is an error answered to a Kinesis API client. Handlers return it (or
// wrap it); WriteError turns it into the HTTP response.
type Error struct {
	// Code is the AWS error name. It is empty only for errors AWS answers with
	// a bare HTTP status, such as 413 for an oversized request body.
	Code ErrorCode
	// Message is the human-readable message clients show.
	Message string
	// Status is the HTTP status code.
	Status int
}

// Errorf returns an Error with code, the code's HTTP status and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: code.Status()}
}

// Error implements error.
func (e *Error) Error() string {
	code := string(e.Code)
	if code == "" {
		code = "HTTP " + strconv.Itoa(e.Status)
	}
	if e.Message == "" {
		return "kinesis: " + code
	}
	return "kinesis: " + code + ": " + e.Message
}

// Is reports whether target is an *Error with the same code (and, for a
// target without a code, the same status), so that errors.Is(err,
// ErrResourceNotFound) matches every ResourceNotFoundException whatever its
// message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Code == codeNone {
		return e.Code == codeNone && e.Status == t.Status
	}
	return t.Code == e.Code
}

// Sentinel errors for errors.Is, one per code. Their messages are empty;
// construct errors to return with Errorf.
var (
	ErrAccessDenied                  = sentinel(CodeAccessDenied)
	ErrDryRunOperation               = sentinel(CodeDryRunOperation)
	ErrExpiredIterator               = sentinel(CodeExpiredIterator)
	ErrExpiredNextToken              = sentinel(CodeExpiredNextToken)
	ErrInternalFailure               = sentinel(CodeInternalFailure)
	ErrInvalidArgument               = sentinel(CodeInvalidArgument)
	ErrKMSAccessDenied               = sentinel(CodeKMSAccessDenied)
	ErrKMSDisabled                   = sentinel(CodeKMSDisabled)
	ErrKMSInvalidState               = sentinel(CodeKMSInvalidState)
	ErrKMSNotFound                   = sentinel(CodeKMSNotFound)
	ErrKMSOptInRequired              = sentinel(CodeKMSOptInRequired)
	ErrKMSThrottling                 = sentinel(CodeKMSThrottling)
	ErrLimitExceeded                 = sentinel(CodeLimitExceeded)
	ErrProvisionedThroughputExceeded = sentinel(CodeProvisionedThroughputExceeded)
	ErrResourceInUse                 = sentinel(CodeResourceInUse)
	ErrResourceNotFound              = sentinel(CodeResourceNotFound)
	ErrValidation                    = sentinel(CodeValidation)
	ErrSerialization                 = sentinel(CodeSerialization)
	ErrUnknownOperation              = sentinel(CodeUnknownOperation)
	ErrMissingAuthenticationToken    = sentinel(CodeMissingAuthenticationToken)
	ErrIncompleteSignature           = sentinel(CodeIncompleteSignature)
	ErrInvalidSignature              = sentinel(CodeInvalidSignature)
	ErrUnrecognizedClient            = sentinel(CodeUnrecognizedClient)
	// ErrRequestTooLarge matches the 413 answered to an oversized request body.
	ErrRequestTooLarge = &Error{Status: statusRequestEntityTooLarge}
)

func sentinel(c ErrorCode) *Error { return &Error{Code: c, Status: c.Status()} }

// RequestTooLarge returns the error for a request body of size bytes over
// limit. AWS answers it with a bare 413 and no error name (boto reports
// "An error occurred (413)"); this one also carries a message in the body.
func RequestTooLarge(size, limit int64) *Error {
	return &Error{
		Message: fmt.Sprintf("request body is %d bytes or more; the limit is %d bytes", size, limit),
		Status:  statusRequestEntityTooLarge,
	}
}

// ValidationError returns the ValidationException AWS answers when a member
// breaks a constraint of the model, in AWS's wording: member is the
// lower-camel-case path ("records.1.member.partitionKey"), value the
// offending value as AWS prints it ("null" is printed bare), constraint e.g.
// "Member must have length less than or equal to 256".
func ValidationError(member, value, constraint string) *Error {
	if value != "null" {
		value = "'" + value + "'"
	}
	return Errorf(CodeValidation, "1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s",
		value, member, constraint)
}

// AsError returns the *Error in err's chain, or an InternalFailureException
// carrying err's text for any other error (a bug or an I/O failure: the
// client can only retry).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(CodeInternalFailure, "%s", api.PublicMessage(err))
}

// WriteError answers err: the status, the X-Amzn-ErrorType header and a body
// {"__type": code, "message": text} in the request's format (the SDKs read the
// header first, then __type). Errors other than *Error become
// InternalFailureException. An Error without a code is written as its status
// with only {"message": text}, as AWS answers oversized bodies.
func WriteError(w http.ResponseWriter, f Format, err error) {
	e := AsError(err)
	h := w.Header()
	h.Set("Content-Type", f.ContentType())
	if e.Code != codeNone {
		h.Set("X-Amzn-ErrorType", string(e.Code))
	}
	body := AppendErrorBody(nil, f, e)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// AppendErrorBody appends the body of an error response in format f:
// {"__type": code, "message": text}, without __type for an Error that has no
// code. A SerializationException carries its text under "Message", as AWS's
// JSON framework writes that one error.
func AppendErrorBody(dst []byte, f Format, e *Error) []byte {
	messageKey := "message"
	if e.Code == CodeSerialization {
		messageKey = "Message"
	}
	if f == FormatCBOR {
		if e.Code == codeNone {
			dst = append(dst, cborMajorMap|1)
		} else {
			dst = append(dst, cborMajorMap|2)
			dst = appendCBORText(dst, "__type")
			dst = appendCBORText(dst, string(e.Code))
		}
		dst = appendCBORText(dst, messageKey)
		return appendCBORText(dst, toValidUTF8(e.Message))
	}
	dst = append(dst, '{')
	if e.Code != codeNone {
		dst = append(dst, `"__type":`...)
		dst = appendJSONString(dst, string(e.Code))
		dst = append(dst, ',')
	}
	dst = appendJSONString(dst, messageKey)
	dst = append(dst, ':')
	dst = appendJSONString(dst, e.Message)
	return append(dst, '}')
}
