package auth

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseAuthorization parses arbitrary Authorization headers: it must
// not panic; what it accepts has every part present and well formed, and
// the same Auth comes back from the header written again from its parts.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", "20150830T123600Z")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/20240101/r/s/aws4_request,SignedHeaders=host,Signature=00", "Mon, 01 Jan 2024 00:00:00 GMT")
	f.Add("AWS4-HMAC-SHA256 ", "")
	f.Add("Basic dXNlcjpwYXNz", "x")
	f.Fuzz(func(t *testing.T, header, requestTime string) {
		a, err := ParseAuthorization(header, requestTime)
		if err != nil {
			if _, ok := err.(*SigV4Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if a.AccessKeyID == "" || len(a.Date) != 8 || !allDigits(a.Date) || a.Region == "" || a.Service == "" ||
			a.SignedHeaders == "" || a.Signature == "" || a.RequestTime != requestTime || a.Presigned {
			t.Fatalf("accepted %q as %+v", header, a)
		}
		again := Algorithm + " Credential=" + a.AccessKeyID + "/" + a.Date + "/" + a.Region + "/" + a.Service + "/" + scopeTerminator +
			", SignedHeaders=" + a.SignedHeaders + ", Signature=" + a.Signature
		b, err := ParseAuthorization(again, requestTime)
		if err != nil || b != a {
			t.Fatalf("%q parsed as %+v; written again as %q it parses as %+v, %v", header, a, again, b, err)
		}
	})
}

// FuzzCanonicalRequest builds canonical requests of arbitrary paths,
// queries and headers: it must not panic, must give the same bytes with a
// reused or a fresh Scratch, and must write the URI and query only with
// characters SigV4 leaves unencoded.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("POST", "/", "Host:example.com\nX-Amz-Date:20240101T000000Z", "host;x-amz-date", false)
	f.Add("GET", "/a/../b//c/./d%20e?b=2&a=1&a=0&X-Amz-Signature=ff&%zz=+", "My-Header: a   b \nMy-Header:c", "my-header;host;content-length", true)
	f.Add("GET", "/ሴ?ሴ=ሴ", "", "", false)
	f.Add("", "", ":\n:", ";;", false)
	f.Fuzz(func(t *testing.T, method, target, headers, signedHeaders string, presigned bool) {
		path, query, _ := strings.Cut(target, "?")
		r := &http.Request{Method: method, RequestURI: target, URL: &url.URL{Path: path, RawQuery: query},
			Header: http.Header{}, ContentLength: int64(len(headers))}
		for _, line := range strings.Split(headers, "\n") {
			k, v, _ := strings.Cut(line, ":")
			r.Header.Add(k, v)
		}
		r.Host = r.Header.Get("Host")
		payload := []byte(UnsignedPayload)
		var sc Scratch
		first := AppendCanonicalRequest(nil, r, signedHeaders, presigned, payload, &sc)
		second := AppendCanonicalRequest([]byte("x"), r, signedHeaders, presigned, payload, &sc)
		fresh := AppendCanonicalRequest(nil, r, signedHeaders, presigned, payload, nil)
		if !bytes.Equal(first, second[1:]) || !bytes.Equal(first, fresh) {
			t.Fatalf("not deterministic:\n%q\n%q\n%q", first, second[1:], fresh)
		}
		if !bytes.HasPrefix(first, []byte(method+"\n")) || !bytes.HasSuffix(first, []byte("\n"+signedHeaders+"\n"+UnsignedPayload)) {
			t.Fatalf("malformed canonical request %q", first)
		}
		rest := first[len(method)+1:]
		uri, rest, _ := bytes.Cut(rest, []byte("\n"))
		q, _, _ := bytes.Cut(rest, []byte("\n"))
		for _, c := range uri {
			if !unreserved(c) && c != '%' && c != '/' {
				t.Fatalf("canonical URI %q has %q", uri, c)
			}
		}
		if len(uri) == 0 || uri[0] != '/' || bytes.Contains(uri, []byte("//")) {
			t.Fatalf("canonical URI %q is not a normalized absolute path", uri)
		}
		for _, c := range q {
			if !unreserved(c) && c != '%' && c != '=' && c != '&' {
				t.Fatalf("canonical query %q has %q", q, c)
			}
		}
	})
}
