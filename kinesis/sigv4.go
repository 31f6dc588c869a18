package kinesis

import (
	"context"
	"errors"
	"net/http"

	"github.com/sluicedb/sluice/auth"
)

// SigV4Algorithm is the only signing algorithm the Kinesis API accepts.
const SigV4Algorithm = auth.Algorithm

// SigV4Service is the service name of the Kinesis API's credential scopes.
const SigV4Service = "kinesis"

// Auth is the AWS Signature Version 4 authentication of a request, as parsed
// from its Authorization header or its presigned query string (see
// auth.Auth).
type Auth = auth.Auth

// ParseAuth parses the SigV4 authentication of r (auth.ParseAuth), with
// failures as the *Error answered to the client: status 400 and AWS's error
// name and message.
func ParseAuth(r *http.Request) (Auth, error) {
	a, err := auth.ParseAuth(r)
	return a, authError(err)
}

// ParseAuthorization parses an Authorization header value of the form
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=…". requestTime is the request's
// X-Amz-Date or Date header (one is required).
func ParseAuthorization(header, requestTime string) (Auth, error) {
	a, err := auth.ParseAuthorization(header, requestTime)
	return a, authError(err)
}

// authError converts a refused authentication (*auth.SigV4Error) to the
// *Error answered with: the same AWS error name and message, status 400 as
// AWS answers every one of them on the Kinesis API. Other errors (and nil)
// pass unchanged.
func authError(err error) error {
	var se *auth.SigV4Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	code := ErrorCode(se.Code)
	return &Error{Code: code, Message: se.Message, Status: code.Status()}
}

// requestKey is the context key of a request's identity.
type requestKey struct{}

// requestIdentity is who a request comes from.
type requestIdentity struct {
	accessKeyID string
	user        *auth.User // nil when signatures are not verified
}

// WithAccessKey returns a context carrying the access key id a request was
// signed with.
func WithAccessKey(ctx context.Context, accessKeyID string) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestIdentity{accessKeyID: accessKeyID})
}

// withIdentity returns a context carrying the access key id and the
// verified user of a request.
func withIdentity(ctx context.Context, accessKeyID string, u *auth.User) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestIdentity{accessKeyID: accessKeyID, user: u})
}

// AccessKeyFrom returns the access key id WithAccessKey put on ctx.
func AccessKeyFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestKey{}).(*requestIdentity)
	if !ok || id.accessKeyID == "" {
		return "", false
	}
	return id.accessKeyID, true
}

// UserFrom returns the user whose signature the handler verified for the
// request of ctx, or nil when the handler verifies none (Options.Auth nil)
// or the request was unsigned.
func UserFrom(ctx context.Context) *auth.User {
	if id, ok := ctx.Value(requestKey{}).(*requestIdentity); ok {
		return id.user
	}
	return nil
}
