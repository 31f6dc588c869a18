package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/chromedp/chromedp"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/console"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/kinesis"
	"github.com/sluicedb/sluice/ratelimit"
)

// The browser tests drive the console in headless Chromium (Debian's
// chromium package; SLUICE_CHROMIUM names another binary). They skip where
// none is installed. With SLUICE_CONSOLE_SCREENSHOTS=DIR they write the
// screenshots of docs/console.md into DIR.

// chromium returns the path of a Chromium binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (looked for chromium, chromium-browser, google-chrome, headless-shell on PATH, and SLUICE_CHROMIUM): " +
		"install Debian's chromium package (apt-get install chromium) to run the console's browser tests")
	return ""
}

const (
	bAccount      = "123456789012"
	bAdminKey     = "AKIABROWSERADMIN0001"
	bAdminSecret  = "browser-admin-secret-01"
	bReaderKey    = "AKIABROWSERREADER001"
	bReaderSecret = "browser-reader-secret-1"
)

const bUsers = `{"account": "` + bAccount + `", "users": [
 {"name": "admin", "access_key_id": "` + bAdminKey + `", "secret_access_key": "` + bAdminSecret + `",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}},
 {"name": "reader", "access_key_id": "` + bReaderKey + `", "secret_access_key": "` + bReaderSecret + `",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
   "Action": ["kinesis:List*", "kinesis:Describe*", "kinesis:GetShardIterator", "kinesis:GetRecords"], "Resource": "*"}]}}
]}`

// site is a sluice HTTP door as the server assembles it: the console under
// /console/ and the Kinesis API on every other path, over one engine.
type site struct {
	eng *engine.Engine
	url string
	kin *sdk.Client
}

func startSite(t *testing.T, withAuth bool) *site {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(dir, "data"), Durability: api.None, Quotas: &ratelimit.Unlimited, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var users *auth.Store
	account := ""
	if withAuth {
		path := filepath.Join(dir, "users.json")
		if err := os.WriteFile(path, []byte(bUsers), 0o600); err != nil {
			t.Fatal(err)
		}
		if users, err = auth.Open(path); err != nil {
			t.Fatal(err)
		}
		account = bAccount
	}
	kin, err := kinesis.NewHandler(eng, kinesis.Options{
		Scope:       kinesis.ARNScope{Region: "us-east-1", Account: account},
		IteratorKey: []byte(strings.Repeat("k", 32)), Logger: quiet, Auth: users,
	})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Engine: eng, Auth: users, Account: account, SampleEvery: 300 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	mux.Handle("/", kin)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		kin.Close()
		con.Close()
		eng.Close()
	})
	s := &site{eng: eng, url: srv.URL}
	s.kin = sdk.New(sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(bAdminKey, bAdminSecret, ""), Retryer: aws.NopRetryer{},
		HTTPClient: awshttp.HTTPClient(),
	})
	return s
}

// browser starts headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return ctx
}

// do runs browser steps with a deadline.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// wait polls a page condition (the page updates on its own timers and
// fetches) until it holds.
func wait(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))
}

// shot writes a screenshot to SLUICE_CONSOLE_SCREENSHOTS, if set.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SLUICE_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Transient notices would cover the page.
	if _, err := chromedp.Run(c, chromedp.Evaluate[chromedp.Void](`document.querySelector("#toast").replaceChildren()`)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func TestBrowser_CreatePutBrowseSplit(t *testing.T) {
	ctx := browser(t)
	s := startSite(t, false)
	bg := context.Background()

	do(t, ctx, "load the console", chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(css("#streams")))
	// Create a stream through the dialog.
	do(t, ctx, "create a stream",
		chromedp.Click(css("#create-open")),
		chromedp.SetValue(css(`#create-form input[name="name"]`), "orders"),
		chromedp.SetValue(css(`#create-form input[name="shards"]`), "2"),
		chromedp.Click(css("#create-submit")),
		wait(`location.hash === "#/streams/orders"`),
		wait(`document.querySelector("#shard-map") && document.querySelector("#shard-map").dataset.shards === "2"`),
	)
	if info, err := s.eng.DescribeStream("orders"); err != nil || len(info.Shards) != 2 {
		t.Fatalf("after the create dialog: %v, %+v", err, info)
	}

	// Put records through the Kinesis API.
	var entries []sdktypes.PutRecordsRequestEntry
	for i := range 200 {
		entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String("user-" + strconv.Itoa(i%17)),
			Data: []byte(fmt.Sprintf(`{"user":%d,"item":"sku-%d","qty":%d}`, i%17, i, i%5+1))})
	}
	entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String("needle"), Data: []byte(`{"needle":true,"note":"find me"}`)})
	out, err := s.kin.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v", err)
	}
	needle := out.Records[len(out.Records)-1]

	// The traffic reaches the map's colours and the charts on the next samples.
	do(t, ctx, "see the traffic",
		wait(`Array.from(document.querySelectorAll("#shards tbody tr td:nth-child(4)")).reduce((n, td) => n + Number(td.textContent), 0) === 201`),
		wait(`Number(document.querySelector("#c-bytes").dataset.points) >= 3`),
	)
	shot(t, ctx, "console-stream")
	do(t, ctx, "scroll to the charts", chromedp.Evaluate[chromedp.Void](`document.querySelector("#chart-shard").scrollIntoView({block: "start"})`))
	shot(t, ctx, "console-charts")
	do(t, ctx, "scroll back", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))

	// Find the records in the browser: the needle's shard from TRIM_HORIZON,
	// shown as JSON.
	do(t, ctx, "browse records",
		chromedp.Click(css("#tab-records")),
		chromedp.WaitVisible(css("#rec-load")),
		chromedp.SetValue(css("#rec-shard"), aws.ToString(needle.ShardId)),
		chromedp.Click(css("#rec-load")),
		wait(`Array.from(document.querySelectorAll("#records tbody tr.rec")).some(tr => tr.textContent.includes("needle"))`),
	)
	seqShown := eval[bool](t, ctx, `Array.from(document.querySelectorAll("#records tbody tr.rec td:first-child")).some(td => td.title === `+strconv.Quote(aws.ToString(needle.SequenceNumber))+`)`)
	if !seqShown {
		t.Fatal("the record browser does not show the needle's sequence number")
	}
	do(t, ctx, "show a record as JSON",
		chromedp.SetValue(css("#rec-view"), "json"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#rec-view").dispatchEvent(new Event("change")); Array.from(document.querySelectorAll("#records tbody tr.rec")).find(tr => tr.textContent.includes("needle")).click()`),
		wait(`document.querySelector("#records pre.data") && document.querySelector("#records pre.data").textContent.includes('"note": "find me"')`),
	)
	// Find by partition key.
	do(t, ctx, "find by key",
		chromedp.SetValue(css("#find-key"), "needle"),
		chromedp.Click(css("#find-submit")),
		wait(`document.querySelectorAll("#find-results tbody tr.rec").length === 1 && document.querySelector("#find-results tbody tr.rec").textContent.includes("needle")`),
	)
	do(t, ctx, "scroll to the record", chromedp.Evaluate[chromedp.Void](`document.querySelector("#records pre.data").scrollIntoView({block: "center"})`))
	shot(t, ctx, "console-records")

	// Split a shard at the traffic-aware point and see the map change.
	do(t, ctx, "split a shard",
		chromedp.Click(css("#tab-shards")),
		chromedp.WaitVisible(css("#split-open")),
		chromedp.Click(css("#split-open")),
		chromedp.Click(css("#split-traffic")),
		wait(`document.querySelector("#split-basis").textContent.includes("median")`),
		chromedp.Click(css("#split-submit")),
		wait(`document.querySelector("#shard-map").dataset.shards === "4" && document.querySelector("#shard-map").dataset.open === "3"`),
		wait(`document.querySelectorAll("#shard-map rect.shard.closed").length === 1 && document.querySelectorAll("#shard-map line.lineage").length === 2`),
	)
	info, err := s.eng.DescribeStream("orders")
	if err != nil || len(info.Shards) != 4 || info.OpenShardCount() != 3 {
		t.Fatalf("after the split dialog: %v, %d shards", err, len(info.Shards))
	}
	// Keep traffic flowing so that the screenshot shows the children's share.
	if _, err := s.kin.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("orders"), Records: entries}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "see the children's traffic", wait(`Array.from(document.querySelectorAll("#shards tbody tr:not(.muted) td:nth-child(5)")).filter(td => parseFloat(td.textContent) > 0).length >= 2`))
	shot(t, ctx, "console-split")
	// On a phone's width the page fits without sideways scrolling (wide
	// tables scroll inside their panels).
	do(t, ctx, "narrow screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		wait(`document.documentElement.scrollWidth <= 390 && document.querySelector("#shard-map").getBoundingClientRect().width <= 390`))
	shot(t, ctx, "console-narrow")
	do(t, ctx, "wide screen", chromedp.ResetViewport())
	// The dark theme draws the same page.
	do(t, ctx, "dark theme", chromedp.Click(css("#theme")),
		wait(`getComputedStyle(document.body).backgroundColor === "rgb(15, 18, 22)" && document.querySelector("#shard-map").dataset.shards === "4"`))
	shot(t, ctx, "console-dark")
	do(t, ctx, "light theme", chromedp.Click(css("#theme")), wait(`getComputedStyle(document.body).backgroundColor === "rgb(247, 248, 250)"`))

	// Delete with the typed confirmation: the button stays disabled until
	// the name is typed.
	do(t, ctx, "delete dialog",
		chromedp.Click(css("#tab-settings")),
		chromedp.WaitVisible(css("#delete-open")),
		chromedp.Click(css("#delete-open")),
		chromedp.SendKeys(css("#delete-confirm"), "order"),
	)
	if !eval[bool](t, ctx, `document.querySelector("#delete-submit").disabled`) {
		t.Fatal("the delete button is enabled before the name is typed in full")
	}
	do(t, ctx, "confirm delete",
		chromedp.SendKeys(css("#delete-confirm"), "s"),
		wait(`!document.querySelector("#delete-submit").disabled`),
		chromedp.Click(css("#delete-submit")),
		wait(`location.hash === "#/streams" && document.querySelector("#streams")`),
	)
	if _, err := s.eng.DescribeStream("orders"); err == nil {
		t.Fatal("orders still exists after the delete dialog")
	}
}

// TestBrowser_ThousandStreams measures the streams page's load with 1,000
// streams: from navigation start to the table drawn.
func TestBrowser_ThousandStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,000 streams")
	}
	ctx := browser(t)
	s := startSite(t, false)
	for i := range 1000 {
		if _, err := s.eng.CreateStream(api.CreateStreamInput{Name: fmt.Sprintf("stream-%04d", i), ShardCount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "load 1,000 streams", chromedp.Navigate(s.url+"/console/"),
		wait(`document.querySelectorAll("#streams tbody tr").length === 1000`))
	ms := eval[float64](t, ctx, `Number(document.body.dataset.streamsDrawnAt)`)
	nav := eval[float64](t, ctx, `performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`)
	api := eval[string](t, ctx, `document.body.dataset.streamsLoadedMs`)
	t.Logf("1,000 streams: table drawn %.0f ms after navigation start (DOMContentLoaded at %.0f ms; the streams API fetch and the table's drawing %s ms)", ms, nav, api)
	if ms > 3000 {
		t.Errorf("the streams page took %.0f ms to draw 1,000 streams; want well under a second", ms)
	}
	// Search narrows the table.
	do(t, ctx, "search", chromedp.SendKeys(css("#search"), "stream-09"), wait(`document.querySelectorAll("#streams tbody tr").length === 100`))
	shot(t, ctx, "console-streams")
}

func TestBrowser_AuthReadOnlyUser(t *testing.T) {
	ctx := browser(t)
	s := startSite(t, true)
	bg := context.Background()
	// The administrator sets up a stream through the Kinesis API (signed).
	if _, err := s.kin.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("audit"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kin.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("audit"), PartitionKey: aws.String("k"), Data: []byte("hello reader")}); err != nil {
		t.Fatal(err)
	}

	do(t, ctx, "sign-in page", chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(css("#login-form")))
	shot(t, ctx, "console-signin")
	do(t, ctx, "wrong secret",
		chromedp.SetValue(css("#ak"), bReaderKey), chromedp.SetValue(css("#sk"), "not-the-secret-at-all"),
		chromedp.Click(css("#login-submit")),
		wait(`document.querySelector("#login-error").textContent.includes("not right")`),
	)
	do(t, ctx, "sign in as the reader",
		chromedp.SetValue(css("#sk"), bReaderSecret),
		chromedp.Click(css("#login-submit")),
		wait(`document.querySelectorAll("#streams tbody tr").length === 1`),
	)
	if eval[bool](t, ctx, `!!document.querySelector("#create-open") || !!document.querySelector("button[data-delete]")`) {
		t.Fatal("the reader is offered create or delete")
	}
	if c := eval[string](t, ctx, `document.cookie`); c != "" {
		t.Fatalf("a script can read cookies %q; the session cookie must be HttpOnly", c)
	}
	do(t, ctx, "the reader's stream page", chromedp.Click(css(`a[data-stream="audit"]`)),
		wait(`document.querySelector("#shard-map") && document.querySelector("#shard-map").dataset.shards === "2"`))
	if eval[bool](t, ctx, `!!document.querySelector("#split-open") || !!document.querySelector("#merge-open") || !!document.querySelector("#scale-open")`) {
		t.Fatal("the reader is offered split, merge or scale")
	}
	shot(t, ctx, "console-reader")
	// The reader may read records.
	do(t, ctx, "the reader reads",
		chromedp.Click(css("#tab-records")), chromedp.WaitVisible(css("#rec-load")))
	found := false
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		do(t, ctx, "read "+id, chromedp.SetValue(css("#rec-shard"), id), chromedp.Click(css("#rec-load")),
			wait(`document.querySelector("#rec-status").textContent !== ""`))
		if eval[bool](t, ctx, `Array.from(document.querySelectorAll("#records tbody tr.rec")).some(tr => tr.textContent.includes("hello reader"))`) {
			found = true
		}
		do(t, ctx, "reset", chromedp.Evaluate[chromedp.Void](`document.querySelector("#rec-status").textContent = ""`))
	}
	if !found {
		t.Fatal("the reader does not see the record")
	}
	// An action forged from the page with the session's own CSRF token is
	// still refused by the reader's policy, and one without it by the CSRF
	// check.
	status := eval[string](t, ctx, `(async () => {
		const s = await (await fetch("/console/api/session")).json();
		const split = await fetch("/console/api/streams/audit/split", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrf},
			body: JSON.stringify({shard: "shardId-000000000000", at: "middle"})});
		const noToken = await fetch("/console/api/streams", {method: "POST", headers: {"Content-Type": "application/json"},
			body: JSON.stringify({name: "sneaky", shards: 1})});
		return split.status + " " + (await split.json()).code + " " + noToken.status + " " + (await noToken.json()).code;
	})()`)
	if status != "403 AccessDeniedException 403 CSRFRefused" {
		t.Fatalf("forged actions answered %q; want 403 AccessDeniedException, 403 CSRFRefused", status)
	}
	info, _ := s.eng.DescribeStream("audit")
	if len(info.Shards) != 2 || len(s.eng.ListStreams()) != 1 {
		t.Fatal("a refused action changed something")
	}
	// Sign out: the page asks for keys again.
	do(t, ctx, "sign out", chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#login-form")))
}
