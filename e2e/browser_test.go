package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome binary: $SLUICE_CHROMIUM, or one
// of the usual names on PATH.
func chromiumPath() string {
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// bundleBrowserSDK bundles e2e/js/browser.mjs, the unmodified AWS SDK for
// JavaScript v3 with its browser runtime, into dir and returns the file.
func bundleBrowserSDK(t *testing.T, dir string) string {
	t.Helper()
	esbuild, err := filepath.Abs(filepath.Join("js", "node_modules", ".bin", "esbuild"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(esbuild); err != nil {
		t.Skip("esbuild is not installed in e2e/js (make e2e-deps installs it)")
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "@aws-sdk", "client-kinesis")); err != nil {
		t.Skip("@aws-sdk/client-kinesis is not installed in e2e/js (make e2e-deps installs it)")
	}
	out := filepath.Join(dir, "sdk.js")
	cmd := exec.Command(esbuild, "browser.mjs", "--bundle", "--platform=browser", "--format=iife", "--outfile="+out, "--log-level=warning")
	cmd.Dir = "js"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	return out
}

// pageServer serves a page that loads the bundled SDK, from an origin of
// its own.
func pageServer(t *testing.T, bundle string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html><head><script src="/sdk.js"></script></head><body>sluice</body></html>`))
	})
	mux.HandleFunc("/sdk.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, bundle)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browserResult is what runKinesis (e2e/js/browser.mjs) reports.
type browserResult struct {
	Records   []string
	ShardID   string `json:"shardId"`
	RequestID string `json:"requestId"`
	Error     string
	Errors    map[string]struct {
		Name, Message, RequestID string
		Status                   int
	}
}

// runInBrowser loads page in a headless Chromium and runs runKinesis there
// against endpoint.
func runInBrowser(t *testing.T, chromium, page, endpoint, stream string) browserResult {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	args, err := json.Marshal([]string{endpoint, e2eKeyID, e2eSecret, stream})
	if err != nil {
		t.Fatal(err)
	}
	call := "runKinesis(..." + string(args) + ")"
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("chromium: load %s: %v", page, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](call, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium: %s: %v", call, err)
	}
	var res browserResult
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatalf("runKinesis returned %q: %v", raw, err)
	}
	return res
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestBrowser_JSSDK runs the unmodified AWS SDK for JavaScript v3 in
// headless Chromium, from a page of another origin, against sluiced with
// --auth and --cors-origins naming that page: the calls pass CORS, are
// signed and verified, and their answers, refusals included, reach the
// page. A page of an origin not named is refused by the browser.
func TestBrowser_JSSDK(t *testing.T) {
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no Chromium or Chrome binary found (set SLUICE_CHROMIUM, or install chromium); the browser test needs one")
	}
	bundle := bundleBrowserSDK(t, t.TempDir())
	page := pageServer(t, bundle)
	other := pageServer(t, bundle)
	bin := build(t)
	s := startServer(t, bin, t.TempDir(), "--auth", e2eUsersFile(t), "--cors-origins", page.URL)
	endpoint := "http://" + s.httpAddr
	if strings.HasPrefix(page.URL, endpoint) {
		t.Fatalf("the page (%s) and sluiced (%s) share an origin", page.URL, endpoint)
	}

	res := runInBrowser(t, chromium, page.URL+"/", endpoint, "browser-orders")
	if res.Error != "" {
		t.Fatalf("the SDK in the browser failed: %s", res.Error)
	}
	if len(res.Records) != 1 || res.Records[0] != "hello from a browser" || res.ShardID != "shardId-000000000000" {
		t.Fatalf("records read back in the browser: %q from %q", res.Records, res.ShardID)
	}
	if !requestIDPattern.MatchString(res.RequestID) {
		t.Errorf("the SDK read request id %q; want a UUID (x-amzn-RequestId exposed to the page)", res.RequestID)
	}
	nf := res.Errors["notFound"]
	if nf.Name != "ResourceNotFoundException" || nf.Status != 400 || !strings.Contains(nf.Message, "Stream no-such-stream under account") ||
		!requestIDPattern.MatchString(nf.RequestID) {
		t.Errorf("a missing stream, as the page saw it: %+v", nf)
	}
	v := res.Errors["validation"]
	want := "2 validation errors detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
		"Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
	if v.Name != "ValidationException" || v.Message != want {
		t.Errorf("an invalid request, as the page saw it: %+v", v)
	}

	// From an origin --cors-origins does not name, the browser refuses the
	// call: the preflight gets no Access-Control-Allow-Origin.
	res = runInBrowser(t, chromium, other.URL+"/", endpoint, "other-orders")
	if res.Error == "" || !strings.Contains(strings.ToLower(res.Error), "fetch") {
		t.Fatalf("a page of another origin: %+v; want the browser to refuse the call", res)
	}
}
