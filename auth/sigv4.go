package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SigV4 constants, as AWS defines them.
const (
	// Algorithm is the only signing algorithm sluice accepts.
	Algorithm = "AWS4-HMAC-SHA256"
	// scopeTerminator ends every credential scope.
	scopeTerminator = "aws4_request"
	// UnsignedPayload in X-Amz-Content-Sha256 leaves the body out of the
	// signature; accepted only over TLS, where the body cannot be altered
	// in transit.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxClockSkew is how far a signature's time may be from the server's
	// clock, either way: AWS's 15 minutes.
	MaxClockSkew = 15 * time.Minute
	// MaxPresignExpires is the longest X-Amz-Expires of a presigned
	// request: 604800 s, 7 days.
	MaxPresignExpires = 7 * 24 * 60 * 60
	// AmzDateLayout is the ISO 8601 basic format of X-Amz-Date.
	AmzDateLayout = "20060102T150405Z"
)

// AWS error names of authentication failures, as the SDKs see them.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
)

// SigV4Error is a refused SigV4 authentication: Code is the AWS error name
// the door answers with (one of the Code* constants) and Message AWS's text.
type SigV4Error struct {
	Code    string
	Message string
}

func (e *SigV4Error) Error() string { return "auth: " + e.Code + ": " + e.Message }

// Is matches a SigV4Error of the same code, whatever its message, so that
// errors.Is(err, ErrInvalidSignature) holds for every bad signature.
func (e *SigV4Error) Is(target error) bool {
	t, ok := target.(*SigV4Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is, one per code.
var (
	ErrMissingAuthenticationToken = &SigV4Error{Code: CodeMissingAuthenticationToken}
	ErrIncompleteSignature        = &SigV4Error{Code: CodeIncompleteSignature}
	ErrInvalidSignature           = &SigV4Error{Code: CodeInvalidSignature}
	ErrUnrecognizedClient         = &SigV4Error{Code: CodeUnrecognizedClient}
)

func sigErrorf(code, format string, args ...any) *SigV4Error {
	return &SigV4Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Messages of AWS that carry no detail.
const (
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// UnrecognizedClient is the answer to an access key id no user has.
func UnrecognizedClient() *SigV4Error {
	return &SigV4Error{Code: CodeUnrecognizedClient, Message: msgUnrecognizedClient}
}

// Auth is the AWS Signature Version 4 authentication of a request, as parsed
// from its Authorization header or its presigned query string. Parsing checks
// that every part is present and well formed; Verifier checks the rest.
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
	// Expires is a presigned request's X-Amz-Expires in seconds (1 to
	// MaxPresignExpires), 0 when it has none.
	Expires int64
	// SecurityToken is the X-Amz-Security-Token of temporary credentials.
	SecurityToken string
}

// ParseAuth parses the SigV4 authentication of r with the checks and messages
// of AWS:
//   - neither an Authorization header nor an X-Amz-Algorithm query parameter:
//     MissingAuthenticationTokenException "Missing Authentication Token";
//   - both: InvalidSignatureException;
//   - a missing Credential, Signature or SignedHeaders parameter, a missing
//     X-Amz-Date and Date header, a missing X-Amz-* query parameter, another
//     algorithm or a malformed credential scope: IncompleteSignatureException,
//     naming every missing part.
//
// It allocates only for a request with a query string and on failure.
func ParseAuth(r *http.Request) (Auth, error) {
	header := r.Header.Get("Authorization")
	var query url.Values
	presigned := false
	if r.URL != nil && r.URL.RawQuery != "" { // parse the query only when there is one
		query = r.URL.Query()
		_, presigned = query["X-Amz-Algorithm"]
	}
	switch {
	case header != "" && presigned:
		return Auth{}, sigErrorf(CodeInvalidSignature,
			"Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case header == "" && !presigned:
		return Auth{}, &SigV4Error{Code: CodeMissingAuthenticationToken, Message: "Missing Authentication Token"}
	case presigned:
		return parsePresigned(query.Get)
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	a, err := ParseAuthorization(header, date)
	if err == nil {
		a.SecurityToken = r.Header.Get("X-Amz-Security-Token")
	}
	return a, err
}

// ParseAuthorization parses an Authorization header value of the form
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=…". requestTime is the request's
// X-Amz-Date or Date header (one is required).
func ParseAuthorization(header, requestTime string) (Auth, error) {
	scheme, params, _ := strings.Cut(strings.TrimSpace(header), " ")
	if scheme != Algorithm {
		return Auth{}, sigErrorf(CodeIncompleteSignature,
			"Authorization header uses the scheme '%s'; it must be %s followed by Credential, SignedHeaders and Signature. Authorization=%s",
			scheme, Algorithm, header)
	}
	var credential, signedHeaders, signature string
	for params != "" {
		var part string
		part, params, _ = strings.Cut(params, ",")
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
	if credential == "" || signature == "" || signedHeaders == "" || requestTime == "" {
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
		return Auth{}, sigErrorf(CodeIncompleteSignature, "%sAuthorization=%s", missing.String(), header)
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
		return Auth{}, sigErrorf(CodeIncompleteSignature, "%sRe-examine the query-string parameters.", missing.String())
	}
	if alg := get("X-Amz-Algorithm"); alg != Algorithm {
		return Auth{}, sigErrorf(CodeIncompleteSignature,
			"X-Amz-Algorithm is '%s'; the only supported algorithm is %s.", alg, Algorithm)
	}
	a := Auth{
		SignedHeaders: get("X-Amz-SignedHeaders"),
		Signature:     get("X-Amz-Signature"),
		RequestTime:   get("X-Amz-Date"),
		Presigned:     true,
		SecurityToken: get("X-Amz-Security-Token"),
	}
	if s := get("X-Amz-Expires"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil && !allDigits(strings.TrimPrefix(s, "-")) || s == "-":
			return Auth{}, sigErrorf(CodeIncompleteSignature, "X-Amz-Expires should be a number, not '%s'.", s)
		case strings.HasPrefix(s, "-"):
			return Auth{}, sigErrorf(CodeIncompleteSignature, "X-Amz-Expires must be non-negative, not %s.", s)
		case err != nil || n > MaxPresignExpires:
			return Auth{}, sigErrorf(CodeIncompleteSignature,
				"X-Amz-Expires must be less than a week (in seconds) that is %d, not %s.", MaxPresignExpires, s)
		case n == 0:
			return Auth{}, sigErrorf(CodeIncompleteSignature, "X-Amz-Expires must be at least 1 second, not 0.")
		}
		a.Expires = n
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
			return sigErrorf(CodeIncompleteSignature,
				"Credential '%s' is malformed; it must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request.", credential)
		}
		parts[i], rest = rest[j+1:], rest[:j]
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = rest, parts[0], parts[1], parts[2]
	switch {
	case a.AccessKeyID == "":
		return sigErrorf(CodeIncompleteSignature, "Credential '%s' has no access key id.", credential)
	case parts[3] != scopeTerminator:
		return sigErrorf(CodeIncompleteSignature,
			"Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", parts[3])
	case len(a.Date) != 8 || !allDigits(a.Date):
		return sigErrorf(CodeIncompleteSignature,
			"Credential should be scoped to a valid date (YYYYMMDD), not '%s'.", a.Date)
	case a.Region == "":
		return sigErrorf(CodeIncompleteSignature, "Credential should be scoped to a valid region, not ''.")
	case a.Service == "":
		return sigErrorf(CodeIncompleteSignature, "Credential should be scoped to correct service: 'kinesis'.")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Verifier checks SigV4 signatures for one region and service. It is safe
// for concurrent use and caches the signing keys it derives.
type Verifier struct {
	region, service string
	now             func() time.Time
	keys            keyCache
}

// NewVerifier returns a Verifier accepting credential scopes of region and
// service, with now as its clock (nil: time.Now).
func NewVerifier(region, service string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{region: region, service: service, now: now}
}

// Check makes the checks that need neither the body nor the secret, in
// AWS's words: temporary credentials (sluice issues none), the Host header
// among the signed ones (so that a signature holds for one server only),
// the credential scope's service, region and date, and the request time
// against the clock (MaxClockSkew either way; a presigned request with
// X-Amz-Expires instead expires that many seconds after its X-Amz-Date).
func (v *Verifier) Check(a *Auth) error {
	if a.SecurityToken != "" {
		return UnrecognizedClient()
	}
	if !signsHost(a.SignedHeaders) {
		return sigErrorf(CodeIncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if a.Service != v.service {
		return sigErrorf(CodeInvalidSignature, "Credential should be scoped to correct service: '%s'. ", v.service)
	}
	if a.Region != v.region {
		return sigErrorf(CodeInvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", a.Region)
	}
	t, amzDate, err := requestTime(a.RequestTime)
	if err != nil {
		return err
	}
	if amzDate[:8] != a.Date {
		return sigErrorf(CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.Date, amzDate[:8], amzDate)
	}
	now := v.now().UTC()
	if t.After(now.Add(MaxClockSkew)) {
		return sigErrorf(CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(MaxClockSkew).Format(AmzDateLayout), now.Format(AmzDateLayout))
	}
	if a.Presigned && a.Expires > 0 {
		if expiry := t.Add(time.Duration(a.Expires) * time.Second); now.After(expiry) {
			return sigErrorf(CodeInvalidSignature,
				"Request has expired: signed at %s for %d seconds, so valid until %s; the server's time is %s.",
				amzDate, a.Expires, expiry.Format(AmzDateLayout), now.Format(AmzDateLayout))
		}
		return nil
	}
	if t.Before(now.Add(-MaxClockSkew)) {
		return sigErrorf(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-MaxClockSkew).Format(AmzDateLayout), now.Format(AmzDateLayout))
	}
	return nil
}

// signsHost reports whether the signed header list names host, or
// HTTP/2's :authority in its place (the JavaScript SDK v3 signs that one
// over HTTP/2).
func signsHost(signedHeaders string) bool {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		if isHostHeader(name) {
			return true
		}
	}
	return false
}

// isHostHeader reports whether a signed header name is the request's host:
// "host", or HTTP/2's pseudo-header ":authority", whose value net/http
// moves into r.Host as it does Host's.
func isHostHeader(name string) bool {
	return strings.EqualFold(name, "host") || name == ":authority"
}

// requestTime parses an X-Amz-Date (or, in its place, an HTTP Date header)
// and returns it with its ISO 8601 basic form, which the string to sign
// carries.
func requestTime(s string) (time.Time, string, error) {
	if t, err := time.Parse(AmzDateLayout, s); err == nil {
		return t, s, nil
	}
	if t, err := http.ParseTime(s); err == nil {
		t = t.UTC()
		return t, t.Format(AmzDateLayout), nil
	}
	return time.Time{}, "", sigErrorf(CodeIncompleteSignature,
		"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s)
}

// Scratch is the reusable working memory of Verify: keep one per request
// state so that verification allocates nothing once it has grown. The zero
// value is ready.
type Scratch struct {
	buf   []byte
	pairs []queryPair
}

// Cap is how many bytes sc holds on to, for pools that drop large ones (a
// request with a long query string or signed header grows it).
func (sc *Scratch) Cap() int {
	const pairSize = 2 * 3 * 8 // a queryPair: two slice headers of three words
	return cap(sc.buf) + cap(sc.pairs)*pairSize
}

// Verify checks a's signature of r with the secret, body being the whole
// request body (hashed here, once; the caller holds it already). It checks
// X-Amz-Content-Sha256 against the body when present, and accepts
// UNSIGNED-PAYLOAD only over TLS. Call Check first. A mismatch is
// InvalidSignatureException with the canonical request and string to sign
// the server expected, as AWS answers.
func (v *Verifier) Verify(r *http.Request, a *Auth, secret string, body []byte, sc *Scratch) error {
	var payload [2 * sha256.Size]byte
	payloadHash, err := payloadHash(r, body, &payload)
	if err != nil {
		return err
	}
	canonical, sts, padAt, err := v.build(r, a, payloadHash, sc)
	if err != nil {
		return err
	}
	key := v.keys.get(a.AccessKeyID, secret, a.Date, a.Region, a.Service)
	mac := sc.hmac(&key, padAt)
	var got [sha256.Size]byte
	if len(a.Signature) != 2*sha256.Size || !decodeHex(got[:], a.Signature) || !hmac.Equal(mac[:], got[:]) {
		return sigErrorf(CodeInvalidSignature,
			"%s\n\nThe Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n",
			msgSignatureMismatch, canonical, sts)
	}
	return nil
}

// Explain returns the canonical request, string to sign and signature
// (hex) that Verify computes for r, for tests and for diagnosing clients.
func (v *Verifier) Explain(r *http.Request, a *Auth, secret string, body []byte) (canonical, stringToSign, signature string, err error) {
	var sc Scratch
	var payload [2 * sha256.Size]byte
	payloadHash, err := payloadHash(r, body, &payload)
	if err != nil {
		return "", "", "", err
	}
	c, sts, padAt, err := v.build(r, a, payloadHash, &sc)
	if err != nil {
		return "", "", "", err
	}
	key := deriveSigningKey(secret, a.Date, a.Region, a.Service)
	mac := sc.hmac(&key, padAt)
	return string(c), string(sts), hex.EncodeToString(mac[:]), nil
}

// payloadHash returns the hex SHA-256 of body that the canonical request
// ends with (in dst), or UNSIGNED-PAYLOAD when the client chose it over TLS.
func payloadHash(r *http.Request, body []byte, dst *[2 * sha256.Size]byte) ([]byte, error) {
	claimed := headerValue(r.Header, "X-Amz-Content-Sha256")
	if claimed == UnsignedPayload {
		if r.TLS == nil {
			return nil, sigErrorf(CodeInvalidSignature,
				"X-Amz-Content-Sha256 is UNSIGNED-PAYLOAD, which is accepted only over TLS: sign the body's SHA-256 or connect with https.")
		}
		return []byte(UnsignedPayload), nil
	}
	sum := sha256.Sum256(body)
	hex.Encode(dst[:], sum[:])
	if claimed != "" && !strings.EqualFold(claimed, string(dst[:])) {
		return nil, sigErrorf(CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return dst[:], nil
}

// build writes the canonical request and the string to sign into sc.buf
// and returns both (valid until sc's next use). The string to sign follows
// one block of room for HMAC's inner pad (see hmac).
func (v *Verifier) build(r *http.Request, a *Auth, payloadHash []byte, sc *Scratch) (canonical, sts []byte, padAt int, err error) {
	_, amzDate, err := requestTime(a.RequestTime)
	if err != nil {
		return nil, nil, 0, err
	}
	b := AppendCanonicalRequest(sc.buf[:0], r, a.SignedHeaders, a.Presigned, payloadHash, sc)
	n := len(b)
	sum := sha256.Sum256(b)
	b = append(b, make([]byte, sha256.BlockSize)...)
	b = append(b, Algorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, a.Date...)
	b = append(b, '/')
	b = append(b, a.Region...)
	b = append(b, '/')
	b = append(b, a.Service...)
	b = append(b, "/"+scopeTerminator+"\n"...)
	b = hex.AppendEncode(b, sum[:])
	sc.buf = b
	return b[:n:n], b[n+sha256.BlockSize:], n, nil
}

// hmac returns HMAC-SHA256(key, the string to sign) for the string to sign
// that build placed in sc.buf after a block of room at padAt: the inner pad
// goes there, so that nothing is copied or allocated.
func (sc *Scratch) hmac(key *[sha256.Size]byte, padAt int) [sha256.Size]byte {
	in := sc.buf[padAt:]
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		in[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	inner := sha256.Sum256(in)
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}

// AppendCanonicalRequest appends the SigV4 canonical request of r to dst:
//
//	METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//
// as AWS builds it for services other than S3: the URI path as sent,
// normalized (no empty, "." or ".." segments) and URI-encoded once more;
// the query's parameters decoded, re-encoded and sorted by name then value
// (without X-Amz-Signature when presigned); and each signed header
// lower-cased, with its values trimmed, inner runs of spaces collapsed and
// repeated values joined with ','. Host and Content-Length, which net/http
// moves out of r.Header, come from r.Host (HTTP/2's :authority) and
// r.ContentLength (when known). sc is working memory reused across calls
// (nil: allocated for this call).
func AppendCanonicalRequest(dst []byte, r *http.Request, signedHeaders string, presigned bool, payloadHash []byte, sc *Scratch) []byte {
	if sc == nil {
		sc = new(Scratch)
	}
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalURI(dst, requestPath(r))
	dst = append(dst, '\n')
	if r.URL != nil {
		dst = appendCanonicalQuery(dst, r.URL.RawQuery, presigned, &sc.pairs)
	}
	dst = append(dst, '\n')
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		dst = appendLower(dst, name)
		dst = append(dst, ':')
		dst = appendHeaderValues(dst, r, name)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, signedHeaders...)
	dst = append(dst, '\n')
	return append(dst, payloadHash...)
}

// requestPath is the path of r as the client sent it.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			return u[:i]
		}
		return u
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI appends the normalized, encoded path p.
func appendCanonicalURI(dst []byte, p string) []byte {
	if p == "/" || p == "" {
		return append(dst, '/')
	}
	start := len(dst)
	// Segments are written as they come and removed again for "..":
	// segStarts holds where each written segment's '/' is.
	var stack [32]int
	segStarts := stack[:0]
	last := ""
	for rest := p; rest != ""; {
		var seg string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			seg, rest = rest, ""
		}
		last = seg
		switch seg {
		case "", ".":
		case "..":
			if n := len(segStarts); n > 0 {
				dst = dst[:segStarts[n-1]]
				segStarts = segStarts[:n-1]
			}
		default:
			segStarts = append(segStarts, len(dst))
			dst = append(dst, '/')
			dst = appendURIEncoded(dst, seg)
		}
	}
	if len(dst) == start || strings.HasSuffix(p, "/") || last == "." || last == ".." {
		dst = append(dst, '/')
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// unreserved reports whether SigV4 leaves c unencoded.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// appendURIEncoded appends s with every byte but the unreserved ones as %XX.
func appendURIEncoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = appendEncodedByte(dst, s[i])
	}
	return dst
}

func appendEncodedByte(dst []byte, c byte) []byte {
	if unreserved(c) {
		return append(dst, c)
	}
	return append(dst, '%', upperHex[c>>4], upperHex[c&15])
}

// appendQueryComponent decodes a query component (%XX, '+' for space; a
// '%' not followed by two hex digits stands for itself) and appends it
// encoded as SigV4 encodes it.
func appendQueryComponent(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		dst = appendEncodedByte(dst, c)
	}
	return dst
}

// queryPair locates one encoded parameter in the canonical query buffer.
type queryPair struct{ key, value []byte }

// appendCanonicalQuery appends the query's parameters, decoded and
// re-encoded, sorted by name then value, joined by '&'.
func appendCanonicalQuery(dst []byte, raw string, presigned bool, pairs *[]queryPair) []byte {
	if raw == "" {
		return dst
	}
	// Encode every pair after dst, then copy them back in order.
	base := len(dst)
	ps := (*pairs)[:0]
	for rest := raw; rest != ""; {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		if kv == "" {
			continue
		}
		k, val, _ := strings.Cut(kv, "=")
		k0 := len(dst)
		dst = appendQueryComponent(dst, k)
		k1 := len(dst)
		if presigned && string(dst[k0:k1]) == "X-Amz-Signature" {
			dst = dst[:k0]
			continue
		}
		dst = appendQueryComponent(dst, val)
		ps = append(ps, queryPair{key: dst[k0:k1:k1], value: dst[k1:len(dst):len(dst)]})
	}
	if len(ps) == 0 {
		*pairs = ps
		return dst[:base]
	}
	slices.SortFunc(ps, func(a, b queryPair) int {
		if c := strings.Compare(string(a.key), string(b.key)); c != 0 {
			return c
		}
		return strings.Compare(string(a.value), string(b.value))
	})
	// The encoded pairs occupy dst[base:end]; write the sorted form after
	// them and move it down.
	end := len(dst)
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	n := copy(dst[base:], dst[end:])
	clear(ps) // drop references into the buffer
	*pairs = ps[:0]
	return dst[:base+n]
}

// appendHeaderValues appends the canonical value of the signed header
// name (lower case) of r.
func appendHeaderValues(dst []byte, r *http.Request, name string) []byte {
	switch {
	case isHostHeader(name):
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return appendTrimmed(dst, host)
	case strings.EqualFold(name, "content-length") && r.ContentLength >= 0:
		return strconv.AppendInt(dst, r.ContentLength, 10)
	}
	for i, v := range headerValues(r.Header, name) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmed(dst, v)
	}
	return dst
}

// appendTrimmed appends v without leading and trailing spaces and tabs,
// and with each inner run of spaces as one.
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		dst = append(dst, v[i])
	}
	return dst
}

// headerValues returns the values of header name (any case) without
// allocating for names up to 64 bytes.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) <= len(buf) {
		k := buf[:len(name)]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case upper && 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			case !upper && 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			k[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(k)]; ok {
			return v
		}
	}
	for k, v := range h { // a key net/http did not canonicalize
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// headerValue is the first value of header name (canonical form), or "".
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeHex decodes s into dst (len(s) == 2*len(dst)), reporting whether s is hex.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		if !isHex(s[2*i]) || !isHex(s[2*i+1]) {
			return false
		}
		dst[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return true
}

// deriveSigningKey is SigV4's key for one secret, date, region and service:
// HMAC chained over "AWS4"+secret, the date, region, service and
// "aws4_request".
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	k := []byte("AWS4" + secret)
	for _, part := range [...]string{date, region, service, scopeTerminator} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(part))
		k = m.Sum(nil)
	}
	return [sha256.Size]byte(k)
}

// maxCachedKeys bounds the signing key cache: users × the one or two dates
// a 15-minute window spans. Past it the cache starts over.
const maxCachedKeys = 4096

// keyCache holds derived signing keys. A hit is lock-free (one atomic
// load and a map read); a miss derives the key and publishes a new map
// with it. Each entry remembers the secret it was derived from, so that a
// user reloaded with a new secret never signs with the old key.
type keyCache struct {
	m  atomic.Pointer[map[keyScope]*signingKey]
	mu sync.Mutex // serializes the copy-on-write of m
}

type keyScope struct{ accessKeyID, date, region, service string }

type signingKey struct {
	secret string
	key    [sha256.Size]byte
}

func (c *keyCache) get(accessKeyID, secret, date, region, service string) [sha256.Size]byte {
	s := keyScope{accessKeyID, date, region, service}
	if m := c.m.Load(); m != nil {
		if e := (*m)[s]; e != nil && e.secret == secret {
			return e.key
		}
	}
	e := &signingKey{secret: secret, key: deriveSigningKey(secret, date, region, service)}
	s = keyScope{strings.Clone(accessKeyID), strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	defer c.mu.Unlock()
	var next map[keyScope]*signingKey
	if old := c.m.Load(); old != nil && len(*old) < maxCachedKeys {
		next = make(map[keyScope]*signingKey, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	} else {
		next = make(map[keyScope]*signingKey, 1)
	}
	next[s] = e
	c.m.Store(&next)
	return e.key
}
