package kinesis

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// SigV4Algorithm is the only signing algorithm the Kinesis API accepts.
const SigV4Algorithm = "AWS4-HMAC-SHA256"

// sigV4Terminator ends every SigV4 credential scope.
const sigV4Terminator = "aws4_request"

// Auth is the AWS Signature Version 4 authentication of a request, as parsed
// from its Authorization header or its presigned query string. Parsing checks
// that every part is present and well formed; it does not verify the
// signature (that needs the secret key and the canonical request).
type Auth struct {
	// AccessKeyID is the key the client signed with.
	AccessKeyID string
	// Date is the date of the credential scope, YYYYMMDD.
	Date string
	// Region and Service are the rest of the credential scope ("us-east-1",
	// "kinesis").
	Region, Service string
	// SignedHeaders is the semicolon-separated list of signed header names.
	SignedHeaders string
	// Signature is the hex signature.
	Signature string
	// RequestTime is the X-Amz-Date (or Date) the signature covers.
	RequestTime string
	// Presigned is true when the authentication came from X-Amz-* query parameters.
	Presigned bool
}

// ParseAuth parses the SigV4 authentication of r with the checks and messages
// of AWS (as kinesalite reproduces them):
//   - neither an Authorization header nor an X-Amz-Algorithm query parameter:
//     MissingAuthenticationTokenException "Missing Authentication Token";
//   - both: InvalidSignatureException;
//   - a missing Credential, Signature or SignedHeaders parameter, a missing
//     X-Amz-Date and Date header, a missing X-Amz-* query parameter, another
//     algorithm or a malformed credential scope: IncompleteSignatureException,
//     naming every missing part.
func ParseAuth(r *http.Request) (Auth, error) {
	header := r.Header.Get("Authorization")
	var query url.Values
	presigned := false
	if r.URL.RawQuery != "" { // parse the query only when there is one
		query = r.URL.Query()
		_, presigned = query["X-Amz-Algorithm"]
	}
	switch {
	case header != "" && presigned:
		return Auth{}, Errorf(CodeInvalidSignature,
			"Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case header == "" && !presigned:
		return Auth{}, Errorf(CodeMissingAuthenticationToken, "Missing Authentication Token")
	case presigned:
		return parsePresigned(query.Get)
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	return parseAuthorization(header, date)
}

// ParseAuthorization parses an Authorization header value of the form
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=…". requestTime is the request's
// X-Amz-Date or Date header (one is required).
func ParseAuthorization(header, requestTime string) (Auth, error) {
	return parseAuthorization(header, requestTime)
}

func parseAuthorization(header, requestTime string) (Auth, error) {
	scheme, params, _ := strings.Cut(strings.TrimSpace(header), " ")
	if scheme != SigV4Algorithm {
		return Auth{}, Errorf(CodeIncompleteSignature,
			"Authorization header uses the scheme '%s'; it must be %s followed by Credential, SignedHeaders and Signature. Authorization=%s",
			scheme, SigV4Algorithm, header)
	}
	var credential, signedHeaders, signature string
	for part := range strings.SplitSeq(params, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "Credential":
			credential = value
		case "SignedHeaders":
			signedHeaders = value
		case "Signature":
			signature = value
		}
	}
	var missing strings.Builder
	for _, p := range [...]struct{ name, value string }{
		{"Credential", credential}, {"Signature", signature}, {"SignedHeaders", signedHeaders},
	} {
		if p.value == "" {
			missing.WriteString("Authorization header requires '" + p.name + "' parameter. ")
		}
	}
	if requestTime == "" {
		missing.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if missing.Len() > 0 {
		return Auth{}, Errorf(CodeIncompleteSignature, "%sAuthorization=%s", missing.String(), header)
	}
	a := Auth{SignedHeaders: signedHeaders, Signature: signature, RequestTime: requestTime}
	if err := a.parseCredential(credential); err != nil {
		return Auth{}, err
	}
	return a, nil
}

// parsePresigned parses the X-Amz-* query parameters of a presigned request.
func parsePresigned(get func(string) string) (Auth, error) {
	var missing strings.Builder
	for _, p := range [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if get(p) == "" {
			missing.WriteString("AWS query-string parameters must include '" + p + "'. ")
		}
	}
	if missing.Len() > 0 {
		return Auth{}, Errorf(CodeIncompleteSignature, "%sRe-examine the query-string parameters.", missing.String())
	}
	if alg := get("X-Amz-Algorithm"); alg != SigV4Algorithm {
		return Auth{}, Errorf(CodeIncompleteSignature,
			"X-Amz-Algorithm is '%s'; the only supported algorithm is %s.", alg, SigV4Algorithm)
	}
	a := Auth{
		SignedHeaders: get("X-Amz-SignedHeaders"),
		Signature:     get("X-Amz-Signature"),
		RequestTime:   get("X-Amz-Date"),
		Presigned:     true,
	}
	if err := a.parseCredential(get("X-Amz-Credential")); err != nil {
		return Auth{}, err
	}
	return a, nil
}

// parseCredential splits "AKID/YYYYMMDD/region/service/aws4_request". The
// scope is the last four parts, so an access key id containing '/' survives.
func (a *Auth) parseCredential(credential string) error {
	parts := [4]string{}
	rest := credential
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return Errorf(CodeIncompleteSignature,
				"Credential '%s' is malformed; it must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request.", credential)
		}
		parts[i], rest = rest[j+1:], rest[:j]
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = rest, parts[0], parts[1], parts[2]
	switch {
	case a.AccessKeyID == "":
		return Errorf(CodeIncompleteSignature, "Credential '%s' has no access key id.", credential)
	case parts[3] != sigV4Terminator:
		return Errorf(CodeIncompleteSignature,
			"Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", parts[3])
	case !isDigits(a.Date, 8):
		return Errorf(CodeIncompleteSignature,
			"Credential should be scoped to a valid date (YYYYMMDD), not '%s'.", a.Date)
	case a.Region == "":
		return Errorf(CodeIncompleteSignature, "Credential should be scoped to a valid region, not ''.")
	case a.Service == "":
		return Errorf(CodeIncompleteSignature, "Credential should be scoped to correct service: 'kinesis'.")
	}
	return nil
}

// accessKeyKey is the context key of the access key id.
type accessKeyKey struct{}

// WithAccessKey returns a context carrying the access key id a request was
// signed with, for the handlers and for signature verification.
func WithAccessKey(ctx context.Context, accessKeyID string) context.Context {
	return context.WithValue(ctx, accessKeyKey{}, accessKeyID)
}

// AccessKeyFrom returns the access key id WithAccessKey put on ctx.
func AccessKeyFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(accessKeyKey{}).(string)
	return id, ok
}
