package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
)

// TestServer_ConsoleMounted: the HTTP door serves the web console under
// /console/ beside the Kinesis API, /metrics and /healthz, over the
// server's engine and (with --auth) its users.
func TestServer_ConsoleMounted(t *testing.T) {
	s := StartTest(t)
	if _, err := s.Engine().CreateStream(api.CreateStreamInput{Name: "orders", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.HTTPAddr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/console/"); st != 200 || !strings.Contains(body, "sluice console") {
		t.Fatalf("GET /console/: %d", st)
	}
	if st, body := get("/console/api/streams"); st != 200 || !strings.Contains(body, `"name":"orders"`) {
		t.Fatalf("GET /console/api/streams: %d %s", st, body)
	}
	for _, p := range []string{"/metrics", "/healthz"} {
		if st, _ := get(p); st != 200 {
			t.Fatalf("GET %s beside the console: %d", p, st)
		}
	}
}

func TestServer_ConsoleUsesTheUsersFile(t *testing.T) {
	dir := t.TempDir()
	s := startWith(t, Config{AuthFile: usersFile(t, dir, adminUsers)})
	base := "http://" + s.HTTPAddr().String()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(base + "/console/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("console API without sign-in: %d", resp.StatusCode)
	}
	resp, err = hc.Post(base+"/console/api/login", "application/json",
		strings.NewReader(`{"accessKeyId":"AKIAADMIN00000000001","secretAccessKey":"admin-secret-0123456789"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		User, UserARN string
	}
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != 200 || sess.UserARN != "arn:aws:iam::123456789012:user/admin" {
		t.Fatalf("sign-in with the users file's key: %d %+v", resp.StatusCode, sess)
	}
	resp, err = hc.Get(base + "/console/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("console API signed in: %d", resp.StatusCode)
	}
}

func TestServer_ConsoleWithoutSlashRedirects(t *testing.T) {
	s := StartTest(t)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get("http://" + s.HTTPAddr().String() + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /console: %d, Location %q; want a redirect to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
}
