package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"testing"
	"time"
)

// TestVerify_AuthoritySignedInPlaceOfHost: over HTTP/2 the JavaScript SDK v3
// signs the pseudo-header ":authority" instead of "host". Its value is the
// request's host (net/http moves it into r.Host), and it satisfies the rule
// that a signature must cover the host. The expected signature is computed
// here from the SigV4 definition, not by the code under test.
func TestVerify_AuthoritySignedInPlaceOfHost(t *testing.T) {
	const (
		keyID, secret = "AKIAAUTHORITY0000001", "authority-secret-0123456789"
		amzDate       = "20261203T120000Z"
		host          = "sluice.example:4567"
	)
	body := []byte(`{"StreamName":"s"}`)
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	creq := "POST\n/\n\n" +
		":authority:" + host + "\n" +
		"x-amz-date:" + amzDate + "\n" +
		"x-amz-target:Kinesis_20131202.ListShards\n\n" +
		":authority;x-amz-date;x-amz-target\n" + payload
	creqSum := sha256.Sum256([]byte(creq))
	scope := "20261203/us-east-1/kinesis/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creqSum[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), "20261203")
	k = mac(k, "us-east-1")
	k = mac(k, "kinesis")
	k = mac(k, "aws4_request")
	sig := hex.EncodeToString(mac(k, sts))

	r := httptest.NewRequest("POST", "http://"+host+"/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.ListShards")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyID+"/"+scope+
		", SignedHeaders=:authority;x-amz-date;x-amz-target, Signature="+sig)
	a, err := ParseAuth(r)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 3, 12, 1, 0, 0, time.UTC) }
	v := NewVerifier("us-east-1", "kinesis", now)
	if err := v.Check(&a); err != nil {
		t.Fatalf("Check refused a signature over :authority: %v", err)
	}
	var sc Scratch
	if err := v.Verify(r, &a, secret, body, &sc); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r.Host = "other.example:4567" // the signature holds for its host only
	if err := v.Verify(r, &a, secret, body, &sc); err == nil {
		t.Fatal("a signature over :authority verified for another host")
	}
}
