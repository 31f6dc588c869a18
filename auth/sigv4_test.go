package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The credentials and time of AWS's SigV4 test suite.
const (
	suiteKey    = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

// readSections splits a test vector file into its "-- name --" sections
// (each without the newline that ends it); the opening comment is
// section "".
func readSections(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	name := ""
	var cur strings.Builder
	flush := func() { // the lines before the first section go under ""
		out[name] = strings.TrimSuffix(cur.String(), "\n")
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(strings.TrimRight(line, "\n"), " --") {
			flush()
			name = strings.TrimSuffix(strings.TrimPrefix(strings.TrimRight(line, "\n"), "-- "), " --")
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}

// parseVectorRequest turns a test suite request into the *http.Request a Go
// server hands its handler: the target as sent in RequestURI, Host in
// r.Host and Content-Length in r.ContentLength (both out of r.Header), and
// folded header lines unfolded with a space. The suite's requests are not
// all valid HTTP (a space or raw UTF-8 in the target), so they are parsed
// here rather than by net/http.
func parseVectorRequest(t *testing.T, text string) (*http.Request, []byte) {
	t.Helper()
	head, body, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	method, rest, _ := strings.Cut(lines[0], " ")
	target := rest[:strings.LastIndexByte(rest, ' ')]
	path, query, _ := strings.Cut(target, "?")
	r := &http.Request{
		Method: method, RequestURI: target, URL: &url.URL{Path: path, RawQuery: query},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
	}
	var lastKey string
	for _, line := range lines[1:] {
		if line[0] == ' ' || line[0] == '\t' { // obs-fold
			vs := r.Header[lastKey]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		lastKey = http.CanonicalHeaderKey(k)
		r.Header.Add(k, strings.TrimSpace(v))
	}
	r.Host = r.Header.Get("Host")
	r.Header.Del("Host")
	if cl := r.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		r.ContentLength = n
		r.Header.Del("Content-Length")
	}
	r.Body = io.NopCloser(strings.NewReader(body))
	return r, []byte(body)
}

// TestSigV4_TestSuite checks the canonical request, string to sign and
// signature of every vector of AWS's SigV4 test suite that applies to
// services other than S3 (paths normalized), for both the Authorization
// header and the presigned query string, byte for byte, then that the
// signed request verifies and that a changed signature or secret does not.
func TestSigV4_TestSuite(t *testing.T) {
	files, err := filepath.Glob("testdata/sigv4/*.txt")
	if err != nil || len(files) < 30 {
		t.Fatalf("test vectors: %d files, %v", len(files), err)
	}
	v := NewVerifier("us-east-1", "service", func() time.Time { return suiteTime })
	for _, f := range files {
		sec := readSections(t, f)
		for _, kind := range []string{"header", "query"} {
			if sec[kind+"-request"] == "" {
				continue
			}
			if kind == "query" && strings.Contains(sec[""], "session token not signed") {
				// The token joins the query after signing (AWS IoT's
				// convention); sluice refuses session tokens anyway.
				continue
			}
			t.Run(strings.TrimSuffix(filepath.Base(f), ".txt")+"/"+kind, func(t *testing.T) {
				r, body := parseVectorRequest(t, sec[kind+"-request"])
				a, err := ParseAuth(r)
				if err != nil {
					t.Fatal(err)
				}
				if a.AccessKeyID != suiteKey || a.Presigned != (kind == "query") {
					t.Fatalf("parsed %+v", a)
				}
				canonical, sts, sig, err := v.Explain(r, &a, suiteSecret, body)
				if err != nil {
					t.Fatal(err)
				}
				if want := sec[kind+"-canonical-request"]; canonical != want {
					t.Errorf("canonical request\n%q\nwant\n%q", canonical, want)
				}
				if want := sec[kind+"-string-to-sign"]; sts != want {
					t.Errorf("string to sign\n%q\nwant\n%q", sts, want)
				}
				if want := sec[kind+"-signature"]; sig != want || a.Signature != want {
					t.Errorf("signature %s, request carries %s, want %s", sig, a.Signature, want)
				}
				err = v.Check(&a)
				if a.SecurityToken != "" {
					// sluice issues no temporary credentials: a session
					// token is refused as AWS refuses an invalid one.
					if !errors.Is(err, ErrUnrecognizedClient) {
						t.Errorf("Check with a session token: %v", err)
					}
				} else if err != nil {
					t.Errorf("Check: %v", err)
				}
				var sc Scratch
				if err := v.Verify(r, &a, suiteSecret, body, &sc); err != nil {
					t.Errorf("Verify: %v", err)
				}
				bad := a
				bad.Signature = strings.Repeat("0", 64)
				err = v.Verify(r, &bad, suiteSecret, body, &sc)
				var se *SigV4Error
				if !errors.As(err, &se) || se.Code != CodeInvalidSignature ||
					!strings.HasPrefix(se.Message, msgSignatureMismatch+"\n\nThe Canonical String for this request should have been\n'"+canonical+"'\n\nThe String-to-Sign should have been\n'"+sts+"'\n") {
					t.Errorf("a wrong signature: %v", err)
				}
				if err := v.Verify(r, &a, suiteSecret+"x", body, &sc); !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("a wrong secret: %v", err)
				}
			})
		}
	}
}

// TestVerifier_Check covers the checks made before the body is read, with
// AWS's wording.
func TestVerifier_Check(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)
	v := NewVerifier("eu-west-1", "kinesis", func() time.Time { return now })
	good := Auth{AccessKeyID: "AKID", Date: "20240101", Region: "eu-west-1", Service: "kinesis", RequestTime: "20240101T002000Z",
		SignedHeaders: "content-type;host;x-amz-date"}
	cases := []struct {
		name   string
		mod    func(a *Auth)
		code   string
		prefix string // of the message; "" for success
	}{
		{"good", func(*Auth) {}, "", ""},
		{"host unsigned", func(a *Auth) { a.SignedHeaders = "content-type;x-amz-date;hostname" }, CodeIncompleteSignature,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"host in capitals", func(a *Auth) { a.SignedHeaders = "Host" }, "", ""},
		{"edge of the past", func(a *Auth) { a.RequestTime = "20240101T001500Z" }, "", ""},
		{"edge of the future", func(a *Auth) { a.RequestTime = "20240101T004500Z" }, "", ""},
		{"service", func(a *Auth) { a.Service = "dynamodb" }, CodeInvalidSignature, "Credential should be scoped to correct service: 'kinesis'. "},
		{"region", func(a *Auth) { a.Region = "us-east-1" }, CodeInvalidSignature, "Credential should be scoped to a valid region, not 'us-east-1'. "},
		{"scope date", func(a *Auth) { a.Date = "20231231" }, CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231231' != '20240101', from '20240101T002000Z'."},
		{"expired", func(a *Auth) { a.RequestTime = "20240101T001459Z" }, CodeInvalidSignature,
			"Signature expired: 20240101T001459Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"},
		{"not yet current", func(a *Auth) { a.RequestTime = "20240101T004501Z" }, CodeInvalidSignature,
			"Signature not yet current: 20240101T004501Z is still later than 20240101T004500Z (20240101T003000Z + 15 min.)"},
		{"bad date", func(a *Auth) { a.RequestTime = "2024-01-01T00:20:00Z" }, CodeIncompleteSignature,
			"Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:20:00Z'."},
		{"http date", func(a *Auth) { a.RequestTime = "Mon, 01 Jan 2024 00:20:00 GMT" }, "", ""},
		{"session token", func(a *Auth) { a.SecurityToken = "FQoG" }, CodeUnrecognizedClient, "The security token included in the request is invalid."},
		{"presigned in time", func(a *Auth) {
			a.Presigned, a.Expires, a.RequestTime, a.Date = true, 3600, "20231231T234000Z", "20231231"
		}, "", ""},
		{"presigned expired", func(a *Auth) { a.Presigned, a.Expires, a.RequestTime = true, 300, "20240101T002459Z" }, CodeInvalidSignature,
			"Request has expired: signed at 20240101T002459Z for 300 seconds, so valid until 20240101T002959Z; the server's time is 20240101T003000Z."},
		{"presigned from the future", func(a *Auth) { a.Presigned, a.Expires, a.RequestTime = true, 300, "20240101T010000Z" }, CodeInvalidSignature,
			"Signature not yet current"},
		{"presigned without expiry", func(a *Auth) { a.Presigned, a.RequestTime = true, "20240101T000000Z" }, CodeInvalidSignature,
			"Signature expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.mod(&a)
			err := v.Check(&a)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *SigV4Error
			if !errors.As(err, &se) || se.Code != tc.code || !strings.HasPrefix(se.Message, tc.prefix) {
				t.Fatalf("err = %v\nwant %s %q", err, tc.code, tc.prefix)
			}
		})
	}
}

func TestParseAuth_PresignedExpires(t *testing.T) {
	const q = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fr%2Fkinesis%2Faws4_request" +
		"&X-Amz-Signature=ff&X-Amz-SignedHeaders=host&X-Amz-Date=20240101T000000Z&X-Amz-Expires="
	for _, tc := range []struct {
		expires string
		want    int64
		msg     string
	}{
		{"1", 1, ""},
		{"604800", 604800, ""},
		{"604801", 0, "X-Amz-Expires must be less than a week (in seconds) that is 604800, not 604801."},
		{"99999999999999999999", 0, "X-Amz-Expires must be less than a week"},
		{"0", 0, "X-Amz-Expires must be at least 1 second, not 0."},
		{"-5", 0, "X-Amz-Expires must be non-negative, not -5."},
		{"soon", 0, "X-Amz-Expires should be a number, not 'soon'."},
	} {
		a, err := ParseAuth(httptest.NewRequest(http.MethodGet, q+tc.expires, nil))
		if tc.msg == "" {
			if err != nil || a.Expires != tc.want {
				t.Errorf("X-Amz-Expires=%s: %+v, %v", tc.expires, a, err)
			}
			continue
		}
		var se *SigV4Error
		if !errors.As(err, &se) || se.Code != CodeIncompleteSignature || !strings.HasPrefix(se.Message, tc.msg) {
			t.Errorf("X-Amz-Expires=%s: %v, want %q", tc.expires, err, tc.msg)
		}
	}
}

// sdkSign signs r as the Go SDK does, for service kinesis in region.
func sdkSign(t *testing.T, r *http.Request, body []byte, secret, region string, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKIDSIGV4TEST0001", SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kinesis", region, at); err != nil {
		t.Fatal(err)
	}
}

// verifyServer serves a handler that verifies each request's SigV4
// signature with secret and answers 204, or 403 with the error.
func verifyServer(t *testing.T, v *Verifier, secret string, tls bool) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, err := ParseAuth(r)
		if err == nil {
			err = v.Check(&a)
		}
		if err == nil {
			var sc Scratch
			err = v.Verify(r, &a, secret, body, &sc)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestVerify_GoSignerThroughServer signs requests with the Go SDK's signer
// and verifies them behind a real net/http server, over HTTP/1.1 and over
// HTTP/2 with TLS: Host and Content-Length are signed and rebuilt from
// r.Host and r.ContentLength, a query string is canonicalized as the
// signer does, a changed body is caught by its hash, and UNSIGNED-PAYLOAD
// is accepted over TLS only.
func TestVerify_GoSignerThroughServer(t *testing.T) {
	now := time.Now().UTC()
	v := NewVerifier("us-west-2", "kinesis", func() time.Time { return now })
	const secret = "sigv4-test-secret-0123456789"
	for _, tls := range []bool{false, true} {
		srv := verifyServer(t, v, secret, tls)
		client := srv.Client()
		do := func(r *http.Request) (int, string) {
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if tls && resp.ProtoMajor != 2 {
				t.Fatalf("TLS request went over %s", resp.Proto)
			}
			return resp.StatusCode, string(b)
		}
		body := []byte(`{"StreamName":"orders","Records":[]}`)
		newReq := func(target string, b []byte) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+target, bytes.NewReader(b))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
			r.Header.Set("X-Custom", "  a   b  ")
			return r
		}
		name := "http1"
		if tls {
			name = "h2+tls"
		}
		t.Run(name, func(t *testing.T) {
			r := newReq("/", body)
			sdkSign(t, r, body, secret, "us-west-2", now)
			if !strings.Contains(r.Header.Get("Authorization"), "content-length;content-type;host;") {
				t.Fatalf("the signer did not sign host and content-length: %s", r.Header.Get("Authorization"))
			}
			if code, msg := do(r); code != http.StatusNoContent {
				t.Fatalf("signed request: %d %s", code, msg)
			}

			r = newReq("/a%20b/c?b=2&a=1&a=0&x=%2F+y", body)
			sdkSign(t, r, body, secret, "us-west-2", now)
			if code, msg := do(r); code != http.StatusNoContent {
				t.Fatalf("signed request with a path and query: %d %s", code, msg)
			}

			tampered := bytes.Clone(body)
			tampered[2] = 'X'
			r = newReq("/", tampered)
			sdkSign(t, r, body, secret, "us-west-2", now) // signed over the original
			r.Header.Del("X-Amz-Content-Sha256")
			if code, msg := do(r); code != http.StatusForbidden || !strings.Contains(msg, CodeInvalidSignature) {
				t.Fatalf("tampered body: %d %s", code, msg)
			}
			r = newReq("/", tampered)
			sdkSign(t, r, body, secret, "us-west-2", now)
			sum := sha256.Sum256(body)
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			if code, msg := do(r); code != http.StatusForbidden || !strings.Contains(msg, "The provided 'x-amz-content-sha256' header does not match what was computed.") {
				t.Fatalf("tampered body with its claimed hash: %d %s", code, msg)
			}

			r = newReq("/", body)
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			creds := aws.Credentials{AccessKeyID: "AKIDSIGV4TEST0001", SecretAccessKey: secret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, UnsignedPayload, "kinesis", "us-west-2", now); err != nil {
				t.Fatal(err)
			}
			code, msg := do(r)
			switch {
			case tls && code != http.StatusNoContent:
				t.Fatalf("UNSIGNED-PAYLOAD over TLS: %d %s", code, msg)
			case !tls && (code != http.StatusForbidden || !strings.Contains(msg, "accepted only over TLS")):
				t.Fatalf("UNSIGNED-PAYLOAD over plain HTTP: %d %s", code, msg)
			}
		})
	}
}

// TestVerify_Presigned verifies a URL presigned by the Go SDK until it
// expires.
func TestVerify_Presigned(t *testing.T) {
	signed := time.Now().UTC().Truncate(time.Second)
	now := signed
	v := NewVerifier("us-east-1", "kinesis", func() time.Time { return now })
	const secret = "sigv4-presign-secret-0123456789"
	srv := verifyServer(t, v, secret, false)
	r, _ := http.NewRequest(http.MethodGet, srv.URL+"/?X-Amz-Expires=60", nil)
	creds := aws.Credentials{AccessKeyID: "AKIDSIGV4TEST0001", SecretAccessKey: secret}
	empty := sha256.Sum256(nil)
	uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hex.EncodeToString(empty[:]), "kinesis", "us-east-1", signed)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, uri, nil)
		for k, vs := range hdr {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, msg := get(); code != http.StatusNoContent {
		t.Fatalf("presigned URL: %d %s", code, msg)
	}
	now = signed.Add(60 * time.Second)
	if code, msg := get(); code != http.StatusNoContent {
		t.Fatalf("presigned URL at its last second: %d %s", code, msg)
	}
	now = signed.Add(61 * time.Second)
	if code, msg := get(); code != http.StatusForbidden || !strings.Contains(msg, "Request has expired") {
		t.Fatalf("expired presigned URL: %d %s", code, msg)
	}
}

// TestKeyCache_NewSecretNeverUsesOldKey derives keys for one access key id
// with two secrets, as a reload that rotates a secret does.
func TestKeyCache_NewSecretNeverUsesOldKey(t *testing.T) {
	var c keyCache
	k1 := c.get("AKID", "secret-one", "20240101", "us-east-1", "kinesis")
	if k1 != deriveSigningKey("secret-one", "20240101", "us-east-1", "kinesis") {
		t.Fatal("first key is not the derived key")
	}
	k2 := c.get("AKID", "secret-two", "20240101", "us-east-1", "kinesis")
	if k2 != deriveSigningKey("secret-two", "20240101", "us-east-1", "kinesis") || k2 == k1 {
		t.Fatal("a new secret reused the old secret's key")
	}
	if c.get("AKID", "secret-two", "20240102", "us-east-1", "kinesis") == k2 {
		t.Fatal("another date reused the key")
	}
	if c.get("AKID", "secret-two", "20240101", "us-east-1", "kinesis") != k2 {
		t.Fatal("a cached key changed")
	}
}

// TestVerify_NoAllocations checks that verifying a signed request with a
// warm Scratch and key cache allocates nothing.
func TestVerify_NoAllocations(t *testing.T) {
	now := time.Now().UTC()
	v := NewVerifier("us-east-1", "kinesis", func() time.Time { return now })
	body := bytes.Repeat([]byte("x"), 64<<10)
	r, _ := http.NewRequest(http.MethodPost, "http://sluice.local:4567/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	sdkSign(t, r, body, "alloc-test-secret-0123", "us-east-1", now)
	r.Host = "sluice.local:4567"
	var sc Scratch
	allocs := testing.AllocsPerRun(100, func() {
		a, err := ParseAuth(r)
		if err == nil {
			err = v.Check(&a)
		}
		if err == nil {
			err = v.Verify(r, &a, "alloc-test-secret-0123", body, &sc)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseAuth+Check+Verify allocate %.1f times a request", allocs)
	}
}

// TestCanonicalQuery_Rules checks the query string rules on their own:
// decoding then SigV4 encoding, sorting by name then value, empty values,
// and X-Amz-Signature left out of a presigned request only.
func TestCanonicalQuery_Rules(t *testing.T) {
	var sc Scratch
	for _, tc := range []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1&a", false, "a=&a=1&a=2"},
		{"k=a+b%20c&%7e=%2f", false, "k=a%20b%20c&~=%2F"},
		{"bad=%zz%4", false, "bad=%25zz%254"},
		{"X-Amz-Signature=ab&X-Amz-Date=1", true, "X-Amz-Date=1"},
		{"X-Amz-Signature=ab&X-Amz-Date=1", false, "X-Amz-Date=1&X-Amz-Signature=ab"},
		{"&&a=1&&", false, "a=1"},
	} {
		got := string(appendCanonicalQuery([]byte("prefix:"), tc.raw, tc.presigned, &sc.pairs))
		if got != "prefix:"+tc.want {
			t.Errorf("query %q (presigned %v): %q, want %q", tc.raw, tc.presigned, got, "prefix:"+tc.want)
		}
	}
}

func TestCanonicalURI_Normalization(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/", "/"},
		{"", "/"},
		{"/a/b/../c", "/a/c"},
		{"/a/b/..", "/a/"},
		{"/..", "/"},
		{"/../../a", "/a"},
		{"//a//b//", "/a/b/"},
		{"/a/./b/.", "/a/b/"},
		{"/a%20b/c+d", "/a%2520b/c%2Bd"},
		{"/ሴ", "/%E1%88%B4"},
	} {
		if got := string(appendCanonicalURI(nil, tc.path)); got != tc.want {
			t.Errorf("path %q: %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestVectorParser_ReadsWhatNetHTTPReads checks the vector request parser
// against net/http's on a request both can read, so the suite test feeds
// the verifier what a server would.
func TestVectorParser_ReadsWhatNetHTTPReads(t *testing.T) {
	const text = "POST /p?q=1 HTTP/1.1\nHost:example.amazonaws.com\nContent-Length:3\nMy-Header: a  b \nMy-Header:c\n\nabc"
	mine, body := parseVectorRequest(t, text)
	theirs, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(strings.TrimSuffix(text, "abc"), "\n", "\r\n") + "abc")))
	if err != nil {
		t.Fatal(err)
	}
	if mine.Host != theirs.Host || mine.ContentLength != theirs.ContentLength || mine.RequestURI != theirs.RequestURI ||
		strings.Join(mine.Header["My-Header"], "|") != strings.Join(theirs.Header["My-Header"], "|") || string(body) != "abc" {
		t.Errorf("parsed %+v\nnet/http %+v", mine, theirs)
	}
}

// BenchmarkVerify measures ParseAuth, Check and Verify of a request signed
// by the Go SDK, for the body of a PutRecords call of 500 records of 100 B
// (base64 in JSON: about 85 KB) and for a small control call. The SHA-256
// of the body is most of it.
func BenchmarkVerify(b *testing.B) {
	now := time.Now().UTC()
	v := NewVerifier("us-east-1", "kinesis", func() time.Time { return now })
	for _, size := range []int{2, 85 << 10} {
		b.Run("body="+strconv.Itoa(size), func(b *testing.B) {
			body := bytes.Repeat([]byte("x"), size)
			r, _ := http.NewRequest(http.MethodPost, "http://sluice.local:4567/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
			sum := sha256.Sum256(body)
			creds := aws.Credentials{AccessKeyID: "AKIDSIGV4TEST0001", SecretAccessKey: "bench-secret-0123456789"}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", now); err != nil {
				b.Fatal(err)
			}
			var sc Scratch
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				a, err := ParseAuth(r)
				if err == nil {
					err = v.Check(&a)
				}
				if err == nil {
					err = v.Verify(r, &a, "bench-secret-0123456789", body, &sc)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestScratch_CapCountsWhatItHolds: a long query string grows a Scratch,
// and Cap says so (pools drop states past a size).
func TestScratch_CapCountsWhatItHolds(t *testing.T) {
	var sc Scratch
	if sc.Cap() != 0 {
		t.Fatalf("zero Scratch holds %d bytes", sc.Cap())
	}
	r := httptest.NewRequest(http.MethodPost, "/?"+strings.Repeat("k=v&", 1<<14), nil)
	AppendCanonicalRequest(nil, r, "host", false, []byte(UnsignedPayload), &sc)
	if sc.Cap() < (1<<14)*48 {
		t.Fatalf("after 16384 query parameters Cap is %d", sc.Cap())
	}
}
