package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

func TestStreams_CreateListDescribeDelete(t *testing.T) {
	f := newFixture(t, false)
	c := f.client()
	var v streamView
	if st := c.do("POST", "/streams", createInput{Name: "orders", Shards: 3, RetentionHours: 48}, &v); st != 200 {
		t.Fatalf("create: HTTP %d", st)
	}
	if v.Name != "orders" || len(v.Shards) != 3 || v.RetentionHours != 48 || !v.Can["split"] {
		t.Fatalf("created stream described as %+v", v)
	}
	// The three shards tile the hash key space.
	if v.Shards[0].HashStart != "0" || v.Shards[2].HashEnd != api.MaxHashKey.String() {
		t.Fatalf("shards do not cover the key space: %+v", v.Shards)
	}
	f.create("payments", 1)

	var list streamList
	if st := c.do("GET", "/streams", nil, &list); st != 200 {
		t.Fatalf("list: HTTP %d", st)
	}
	if len(list.Streams) != 2 || list.Streams[0].Name != "orders" || list.Streams[0].OpenShards != 3 || list.Streams[1].Name != "payments" {
		t.Fatalf("list = %+v", list.Streams)
	}

	// A creation the engine refuses says why.
	var e apiError
	if st := c.do("POST", "/streams", createInput{Name: "orders", Shards: 1}, &e); st != http.StatusConflict || !strings.Contains(e.Error, "orders") {
		t.Fatalf("second create of orders: HTTP %d %+v", st, e)
	}
	if st := c.do("POST", "/streams", createInput{Name: "bad name!", Shards: 1}, &e); st != http.StatusBadRequest {
		t.Fatalf("create of an invalid name: HTTP %d %+v", st, e)
	}

	// Delete needs the typed confirmation: a wrong one deletes nothing.
	if st := c.do("DELETE", "/streams/orders", deleteInput{Confirm: "order"}, &e); st != http.StatusBadRequest || !strings.Contains(e.Error, "type its name") {
		t.Fatalf("delete with a wrong confirmation: HTTP %d %+v", st, e)
	}
	if _, err := f.eng.DescribeStream("orders"); err != nil {
		t.Fatalf("orders gone after a refused delete: %v", err)
	}
	if st := c.do("DELETE", "/streams/orders", deleteInput{Confirm: "orders"}, nil); st != 200 {
		t.Fatalf("delete: HTTP %d", st)
	}
	if slices.Contains(f.eng.ListStreams(), "orders") {
		t.Fatal("orders still listed after delete")
	}
	if st := c.do("GET", "/streams/orders", nil, &e); st != http.StatusNotFound {
		t.Fatalf("describe of a deleted stream: HTTP %d", st)
	}
}

func TestActions_CSRFRefused(t *testing.T) {
	for _, withAuth := range []bool{false, true} {
		t.Run("auth="+strconv.FormatBool(withAuth), func(t *testing.T) {
			f := newFixture(t, withAuth)
			c := f.client()
			if withAuth {
				c.login(adminKey, adminSecret)
			}
			cases := []struct {
				name string
				hdr  map[string]string
			}{
				{"no token", nil},
				{"wrong token", map[string]string{csrfHeader: "not-the-token"}},
				{"other site", map[string]string{csrfHeader: c.csrf, "Origin": "https://evil.example"}},
			}
			for _, tc := range cases {
				var e apiError
				st := c.doWith("POST", "/streams", createInput{Name: "csrf", Shards: 1}, &e, tc.hdr)
				if st != http.StatusForbidden || e.Code != "CSRFRefused" {
					t.Fatalf("%s: HTTP %d %+v; want 403 CSRFRefused", tc.name, st, e)
				}
				if len(f.eng.ListStreams()) != 0 {
					t.Fatalf("%s: a refused action created a stream", tc.name)
				}
			}
			// A form post (not JSON) is refused even with the token.
			if st := c.doWith("POST", "/streams", nil, nil, map[string]string{csrfHeader: c.csrf, "Content-Type": "application/x-www-form-urlencoded"}); st != http.StatusUnsupportedMediaType {
				t.Fatalf("form post: HTTP %d; want 415", st)
			}
			// With the token, from the console's own origin, it acts.
			if st := c.doWith("POST", "/streams", createInput{Name: "csrf", Shards: 1}, nil, map[string]string{csrfHeader: c.csrf, "Origin": f.srv.URL}); st != 200 {
				t.Fatalf("action with the token: HTTP %d", st)
			}
			if !slices.Contains(f.eng.ListStreams(), "csrf") {
				t.Fatal("the allowed action created no stream")
			}
		})
	}
}

func TestSession_CookieAttributes(t *testing.T) {
	f := newFixture(t, true)
	c := f.client()
	// Signed out: the session says sign-in is needed, and the API refuses.
	var s sessionInfo
	c.do("GET", "/session", nil, &s)
	if !s.Auth || s.User != "" || s.CSRF != "" {
		t.Fatalf("signed-out session = %+v", s)
	}
	var e apiError
	if st := c.do("GET", "/streams", nil, &e); st != http.StatusUnauthorized || e.Code != "SignInRequired" {
		t.Fatalf("list signed out: HTTP %d %+v", st, e)
	}
	// A wrong secret is refused, and sets no cookie.
	if st := c.do("POST", "/login", loginInput{AccessKeyID: adminKey, SecretAccessKey: "wrong-secret-0123456789"}, &e); st != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong secret: HTTP %d", st)
	}
	if st := c.do("POST", "/login", loginInput{AccessKeyID: "AKIANOSUCHUSER000000", SecretAccessKey: adminSecret}, &e); st != http.StatusUnauthorized {
		t.Fatalf("sign-in with an unknown key: HTTP %d", st)
	}

	for _, tls := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(tls), func(t *testing.T) {
			scheme := "http"
			if tls {
				scheme = "https"
			}
			req := httptest.NewRequest("POST", scheme+"://sluice.example/console/api/login",
				strings.NewReader(`{"accessKeyId":"`+adminKey+`","secretAccessKey":"`+adminSecret+`"}`))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			f.con.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("sign-in: HTTP %d %s", rec.Code, rec.Body)
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("sign-in set %d cookies; want 1", len(cookies))
			}
			ck := cookies[0]
			if ck.Name != cookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != Prefix || ck.Secure != tls || ck.MaxAge != int((8*time.Hour)/time.Second) || len(ck.Value) < 40 {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console/, Secure=%v, Max-Age 8h, a long random value", ck, tls)
			}
			if strings.Contains(rec.Body.String(), ck.Value) {
				t.Fatal("the session token appears in the response body, where a script could read it")
			}
		})
	}

	// A session expires: after the idle limit the API asks to sign in again.
	c.login(readerKey, readerSecret)
	if st := c.do("GET", "/streams", nil, nil); st != 200 {
		t.Fatalf("list signed in: HTTP %d", st)
	}
	f.clock.Add(2*time.Hour + time.Second)
	if st := c.do("GET", "/streams", nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("list after the idle limit: HTTP %d", st)
	}
	// Expired sessions nobody comes back to are swept from memory.
	for range 3 {
		f.client().login(adminKey, adminSecret)
	}
	f.clock.Add(2*time.Hour + time.Second)
	f.con.sessions.sweep()
	f.con.sessions.mu.Lock()
	left := len(f.con.sessions.byID)
	f.con.sessions.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d expired sessions left after a sweep", left)
	}
	// Sign-out ends the session on the server.
	c.login(readerKey, readerSecret)
	if st := c.do("POST", "/logout", nil, nil); st != 200 {
		t.Fatalf("sign out: HTTP %d", st)
	}
	if st := c.do("GET", "/streams", nil, &e); st != http.StatusUnauthorized {
		t.Fatalf("list after sign-out: HTTP %d", st)
	}
}

func TestAuth_ReadOnlyUserSeesButCannotAct(t *testing.T) {
	f := newFixture(t, true)
	f.create("orders", 2)
	f.put("orders", "a", "b", "c")
	r := f.client()
	r.login(readerKey, readerSecret)

	var s sessionInfo
	r.do("GET", "/session", nil, &s)
	if s.User != "reader" || !s.CanList || s.CanCreate {
		t.Fatalf("reader's session = %+v; want may list, may not create", s)
	}
	var list streamList
	if st := r.do("GET", "/streams", nil, &list); st != 200 || len(list.Streams) != 1 || list.Streams[0].CanDelete {
		t.Fatalf("reader's list: HTTP %d %+v", st, list)
	}
	var v streamView
	if st := r.do("GET", "/streams/orders", nil, &v); st != 200 {
		t.Fatalf("reader's describe: HTTP %d", st)
	}
	for _, k := range []string{"split", "merge", "scale", "retention", "tags", "delete", "consumers"} {
		if v.Can[k] {
			t.Errorf("reader may %s, by the stream's view", k)
		}
	}
	if !v.Can["read"] {
		t.Error("reader may not read records, by the stream's view")
	}
	var page recordPage
	if st := r.do("GET", "/streams/orders/records?shard="+v.Shards[0].ID, nil, &page); st != 200 {
		t.Fatalf("reader's read: HTTP %d", st)
	}

	refused := []struct {
		method, path string
		body         any
		action       string
	}{
		{"POST", "/streams", createInput{Name: "new", Shards: 1}, "kinesis:CreateStream"},
		{"DELETE", "/streams/orders", deleteInput{Confirm: "orders"}, "kinesis:DeleteStream"},
		{"POST", "/streams/orders/split", splitInput{Shard: v.Shards[0].ID, At: "middle"}, "kinesis:SplitShard"},
		{"POST", "/streams/orders/merge", mergeInput{Shard: v.Shards[0].ID, Adjacent: v.Shards[1].ID}, "kinesis:MergeShards"},
		{"POST", "/streams/orders/scale", scaleInput{Shards: 4}, "kinesis:UpdateShardCount"},
		{"POST", "/streams/orders/retention", retentionInput{Hours: 48}, "kinesis:IncreaseStreamRetentionPeriod"},
		{"POST", "/streams/orders/tags", tagsInput{Add: map[string]string{"team": "x"}}, "kinesis:AddTagsToStream"},
		{"POST", "/streams/orders/consumers", consumerInput{Name: "c1"}, "kinesis:RegisterStreamConsumer"},
		{"GET", "/streams/orders/splitkey?shard=" + v.Shards[0].ID, nil, "kinesis:SplitShard"},
	}
	for _, tc := range refused {
		var e apiError
		st := r.do(tc.method, tc.path, tc.body, &e)
		if st != http.StatusForbidden || e.Code != "AccessDeniedException" || !strings.Contains(e.Error, tc.action) || !strings.Contains(e.Error, "user/reader") {
			t.Errorf("reader %s %s: HTTP %d %+v; want 403 naming %s", tc.method, tc.path, st, e, tc.action)
		}
	}
	after, _ := f.eng.DescribeStream("orders")
	if len(after.Shards) != 2 || after.RetentionHours != 24 || len(after.Tags) != 0 || len(after.Consumers) != 0 || len(f.eng.ListStreams()) != 1 {
		t.Fatalf("the reader's refused actions changed the stream: %+v", after)
	}

	// The administrator may do what the reader may not.
	a := f.client()
	a.login(adminKey, adminSecret)
	if st := a.do("POST", "/streams/orders/split", splitInput{Shard: v.Shards[0].ID, At: "middle"}, &v); st != 200 || len(v.Shards) != 4 {
		t.Fatalf("admin split: HTTP %d, %d shards", st, len(v.Shards))
	}

	// Each refusal is in the audit log, and the administrator's split.
	f.srv.Close()
	f.alog.Close()
	b, err := os.ReadFile(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `user/reader","action":"kinesis:`); n != len(refused) || strings.Count(string(b), `"outcome":"denied"`) != len(refused) {
		t.Errorf("audit log holds %d of the reader's actions; want %d denials:\n%s", n, len(refused), b)
	}
	if !strings.Contains(string(b), `"identity":"arn:aws:iam::123456789012:user/admin","action":"kinesis:SplitShard","resource":"arn:aws:kinesis:us-east-1:123456789012:stream/orders","door":"console","outcome":"allowed"`) {
		t.Errorf("audit log lacks the administrator's split:\n%s", b)
	}
}

func TestAuth_PolicyHidesStreams(t *testing.T) {
	f := newFixture(t, true)
	f.create("orders", 1)
	f.create("secret", 1)
	// A resource policy that denies everyone hides the stream from the
	// list, even from the administrator, as it would at the Kinesis door.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:*","Resource":"*"}]}`
	if err := f.eng.SetPolicy("secret", "", deny); err != nil {
		t.Fatal(err)
	}
	a := f.client()
	a.login(adminKey, adminSecret)
	var list streamList
	if st := a.do("GET", "/streams", nil, &list); st != 200 || len(list.Streams) != 1 || list.Streams[0].Name != "orders" || list.Hidden != 1 {
		t.Fatalf("list: HTTP %d %+v; want orders only, one hidden", st, list)
	}
	var e apiError
	if st := a.do("GET", "/streams/secret", nil, &e); st != http.StatusForbidden {
		t.Fatalf("describe of a denied stream: HTTP %d", st)
	}
}

func TestRecords_BrowseTailAndFind(t *testing.T) {
	f := newFixture(t, false)
	f.create("events", 1)
	c := f.client()
	keys := make([]string, 250)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i%7)
	}
	res := f.put("events", keys...)
	shard := res[0].ShardID

	// Browse from TRIM_HORIZON in pages, following the cursor.
	var got []recordView
	var page recordPage
	if st := c.do("GET", "/streams/events/records?shard="+shard+"&from=TRIM_HORIZON&limit=100", nil, &page); st != 200 {
		t.Fatalf("read: HTTP %d", st)
	}
	got = append(got, page.Records...)
	for len(page.Records) > 0 {
		cursor := page.Cursor
		page = recordPage{}
		if st := c.do("GET", "/streams/events/records?shard="+shard+"&limit=100&cursor="+cursor, nil, &page); st != 200 {
			t.Fatalf("read on: HTTP %d", st)
		}
		got = append(got, page.Records...)
	}
	if len(got) != len(keys) {
		t.Fatalf("browsed %d records; want %d", len(got), len(keys))
	}
	for i, r := range got {
		if r.Key != keys[i] || r.Seq != res[i].Seq.String() || !strings.Contains(string(r.Data), `"key":"`+keys[i]+`"`) || r.Size != len(r.Data) {
			t.Fatalf("record %d = %+v; want key %s seq %s", i, r, keys[i], res[i].Seq)
		}
	}
	// AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER start where they say.
	for _, tc := range []struct {
		from  string
		first int
	}{{"AT_SEQUENCE_NUMBER", 100}, {"AFTER_SEQUENCE_NUMBER", 101}} {
		page = recordPage{}
		c.do("GET", "/streams/events/records?shard="+shard+"&limit=1&from="+tc.from+"&seq="+res[100].Seq.String(), nil, &page)
		if len(page.Records) != 1 || page.Records[0].Seq != res[tc.first].Seq.String() {
			t.Fatalf("%s: %+v; want record %d", tc.from, page.Records, tc.first)
		}
	}
	// AT_TIMESTAMP after every record finds none; bad input says what is wrong.
	page = recordPage{}
	c.do("GET", "/streams/events/records?shard="+shard+"&from=AT_TIMESTAMP&time="+strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), nil, &page)
	if len(page.Records) != 0 {
		t.Fatalf("AT_TIMESTAMP in the future: %d records", len(page.Records))
	}
	var e apiError
	if st := c.do("GET", "/streams/events/records?shard="+shard+"&from=SOMEWHERE", nil, &e); st != 400 || !strings.Contains(e.Error, "TRIM_HORIZON") {
		t.Fatalf("bad from: HTTP %d %+v", st, e)
	}
	if st := c.do("GET", "/streams/events/records?shard="+shard+"&limit=5000", nil, &e); st != 400 || !strings.Contains(e.Error, "1 to 1000") {
		t.Fatalf("bad limit: HTTP %d %+v", st, e)
	}

	// The live tail: from LATEST, a waiting read returns the next record.
	page = recordPage{}
	c.do("GET", "/streams/events/records?shard="+shard+"&from=LATEST", nil, &page)
	if len(page.Records) != 0 {
		t.Fatalf("LATEST returned %d records", len(page.Records))
	}
	done := make(chan recordPage)
	go func() {
		var p recordPage
		c.do("GET", "/streams/events/records?shard="+shard+"&wait=20&cursor="+page.Cursor, nil, &p)
		done <- p
	}()
	f.put("events", "late")
	if p := <-done; len(p.Records) != 1 || p.Records[0].Key != "late" {
		t.Fatalf("tail returned %+v; want the record put after it started", p.Records)
	}

	// Find by partition key, across a split (the key's records are in the
	// parent and in one child).
	var v streamView
	if st := c.do("POST", "/streams/events/split", splitInput{Shard: shard, At: "middle"}, &v); st != 200 {
		t.Fatalf("split: HTTP %d", st)
	}
	f.put("events", "user-3", "user-4", "user-3")
	var fr findResult
	q := "/streams/events/find?key=user-3&from=" + strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10) + "&to=" + strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)
	if st := c.do("GET", q, nil, &fr); st != 200 {
		t.Fatalf("find: HTTP %d", st)
	}
	want := 2
	for _, k := range keys {
		if k == "user-3" {
			want++
		}
	}
	if len(fr.Records) != want || len(fr.Shards) != 2 || fr.Truncated {
		t.Fatalf("find user-3: %d records in %v (truncated %v); want %d in the parent and one child", len(fr.Records), fr.Shards, fr.Truncated, want)
	}
	for _, r := range fr.Records {
		if r.Key != "user-3" {
			t.Fatalf("find user-3 returned key %s", r.Key)
		}
	}
	// A window before the records finds nothing.
	fr = findResult{}
	c.do("GET", "/streams/events/find?key=user-3&from=0&to=1000", nil, &fr)
	if len(fr.Records) != 0 {
		t.Fatalf("find in 1970: %d records", len(fr.Records))
	}
}

func TestSplit_TrafficAware(t *testing.T) {
	f := newFixture(t, false)
	f.create("clicks", 1)
	c := f.client()
	var keys []string
	for i := range 301 {
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	res := f.put("clicks", keys...)
	var p splitPoint
	if st := c.do("GET", "/streams/clicks/splitkey?shard="+res[0].ShardID, nil, &p); st != 200 {
		t.Fatalf("splitkey: HTTP %d", st)
	}
	hashes := make([]api.HashKey, len(keys))
	for i, k := range keys {
		hashes[i] = api.HashPartitionKey([]byte(k))
	}
	slices.SortFunc(hashes, api.HashKey.Cmp)
	if p.Basis != "traffic" || p.Sampled != len(keys) || p.HashKey != hashes[len(hashes)/2].String() {
		t.Fatalf("split point %+v; want the median hash %s of %d records", p, hashes[len(hashes)/2], len(keys))
	}
	var v streamView
	if st := c.do("POST", "/streams/clicks/split", splitInput{Shard: res[0].ShardID, At: "traffic"}, &v); st != 200 {
		t.Fatalf("split: HTTP %d", st)
	}
	var open []shardView
	for _, s := range v.Shards {
		if !s.Closed {
			open = append(open, s)
		}
	}
	if len(open) != 2 || open[1].HashStart != p.HashKey || open[0].Parent != res[0].ShardID || open[1].Parent != res[0].ShardID {
		t.Fatalf("children %+v; want two of %s split at %s", open, res[0].ShardID, p.HashKey)
	}
	// Each child now takes about half of the same keys.
	var left int
	for _, h := range hashes {
		if h.Cmp(hashes[len(hashes)/2]) < 0 {
			left++
		}
	}
	if left != len(keys)/2 {
		t.Fatalf("%d of %d keys go to the first child", left, len(keys))
	}
	// An empty shard has no traffic to go by: the middle.
	f.create("empty", 1)
	c.do("GET", "/streams/empty/splitkey?shard=shardId-000000000000", nil, &p)
	if p.Basis != "middle" || p.HashKey != api.SplitRange(api.HashKey{}, api.MaxHashKey, 2)[1][0].String() {
		t.Fatalf("empty shard's split point %+v", p)
	}
	// Merge the children back, and scale.
	if st := c.do("POST", "/streams/clicks/merge", mergeInput{Shard: open[0].ID, Adjacent: open[1].ID}, &v); st != 200 || v.Shards[len(v.Shards)-1].Parent != open[0].ID {
		t.Fatalf("merge: HTTP %d %+v", st, v.Shards)
	}
	if st := c.do("POST", "/streams/clicks/scale", scaleInput{Shards: 2}, &v); st != 200 {
		t.Fatalf("scale: HTTP %d", st)
	}
	n := 0
	for _, s := range v.Shards {
		if !s.Closed {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d open shards after scaling to 2", n)
	}
}

func TestSettings_RetentionTagsConsumers(t *testing.T) {
	f := newFixture(t, false)
	f.create("logs", 1)
	c := f.client()
	var v streamView
	if st := c.do("POST", "/streams/logs/retention", retentionInput{Hours: 72}, &v); st != 200 || v.RetentionHours != 72 {
		t.Fatalf("raise retention: HTTP %d, %d h", st, v.RetentionHours)
	}
	if st := c.do("POST", "/streams/logs/retention", retentionInput{Hours: 30}, &v); st != 200 || v.RetentionHours != 30 {
		t.Fatalf("lower retention: HTTP %d, %d h", st, v.RetentionHours)
	}
	var e apiError
	if st := c.do("POST", "/streams/logs/retention", retentionInput{Hours: 5}, &e); st != 400 {
		t.Fatalf("retention of 5 h: HTTP %d %+v", st, e)
	}
	if st := c.do("POST", "/streams/logs/tags", tagsInput{Add: map[string]string{"team": "core", "env": "prod"}}, &v); st != 200 || v.Tags["team"] != "core" || v.Tags["env"] != "prod" {
		t.Fatalf("add tags: HTTP %d %+v", st, v.Tags)
	}
	v = streamView{}
	if st := c.do("POST", "/streams/logs/tags", tagsInput{Remove: []string{"env"}}, &v); st != 200 || len(v.Tags) != 1 || v.Tags["team"] != "core" {
		t.Fatalf("remove a tag: HTTP %d %+v", st, v.Tags)
	}
	if st := c.do("POST", "/streams/logs/consumers", consumerInput{Name: "indexer"}, &v); st != 200 || len(v.Consumers) != 1 || v.Consumers[0].Name != "indexer" ||
		!strings.HasPrefix(v.Consumers[0].ARN, "arn:aws:kinesis:us-east-1:000000000000:stream/logs/consumer/indexer:") {
		t.Fatalf("register: HTTP %d %+v", st, v.Consumers)
	}
	// A stream with consumers is deleted only when told to deregister them.
	if st := c.do("DELETE", "/streams/logs", deleteInput{Confirm: "logs"}, &e); st != http.StatusConflict {
		t.Fatalf("delete with a consumer: HTTP %d %+v", st, e)
	}
	if st := c.do("DELETE", "/streams/logs/consumers/indexer", nil, &v); st != 200 || len(v.Consumers) != 0 {
		t.Fatalf("deregister: HTTP %d %+v", st, v.Consumers)
	}
}

func TestHistory_RatesFromTheCounters(t *testing.T) {
	f := newFixture(t, false)
	f.create("metered", 2)
	c := f.client()
	t0 := f.clock.Now()
	f.con.hist.sample(f.eng, t0)
	res := f.put("metered", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
	perShard := map[string]int{}
	for _, r := range res {
		perShard[r.ShardID]++
	}
	f.con.hist.sample(f.eng, t0.Add(5*time.Second))

	var m streamSeries
	if st := c.do("GET", "/streams/metered/metrics", nil, &m); st != 200 {
		t.Fatalf("metrics: HTTP %d", st)
	}
	if len(m.Times) != 3 || m.Times[2] != t0.Add(5*time.Second).UnixMilli() || len(m.Shards) != 2 {
		t.Fatalf("metrics times %v, %d shards; want New's sample and two more, 2 shards", m.Times, len(m.Shards))
	}
	for id, n := range perShard {
		got := m.Shards[id]["inRecords"]
		if got[2] != float32(n)/5 {
			t.Fatalf("shard %s inRecords %v; want %v/s at the last sample", id, got, float32(n)/5)
		}
	}
	var list streamList
	c.do("GET", "/streams", nil, &list)
	if list.Streams[0].InRecords != 2 {
		t.Fatalf("stream's in rate %v records/s; want 10 records over 5 s", list.Streams[0].InRecords)
	}
	var v streamView
	c.do("GET", "/streams/metered", nil, &v)
	var share float64
	for _, s := range v.Shards {
		share += s.Share
		if want := float64(perShard[s.ID]); s.InRecords != float32(want/5) {
			t.Fatalf("shard %s in %v records/s; want %v", s.ID, s.InRecords, want/5)
		}
	}
	if share < 0.999 || share > 1.001 {
		t.Fatalf("shares add up to %v; want 1", share)
	}
	// One shard's history alone.
	m = streamSeries{}
	c.do("GET", "/streams/metered/metrics?shard="+res[0].ShardID, nil, &m)
	if len(m.Shards) != 1 {
		t.Fatalf("one shard's metrics hold %d shards", len(m.Shards))
	}
	// The ring keeps the last History samples.
	for i := range 100 {
		f.con.hist.sample(f.eng, t0.Add(time.Duration(10+i)*time.Second))
	}
	c.do("GET", "/streams/metered/metrics", nil, &m)
	if len(m.Times) != 72 || m.Times[71] != t0.Add(109*time.Second).UnixMilli() || m.Times[0] != t0.Add(38*time.Second).UnixMilli() {
		t.Fatalf("after 100 more samples: %d times from %d to %d", len(m.Times), m.Times[0], m.Times[len(m.Times)-1])
	}
}

func TestPages_ServedFromTheBinary(t *testing.T) {
	f := newFixture(t, false)
	for _, tc := range []struct{ path, ctype, holds string }{
		{"/console/", "text/html", `<script src="/console/assets/app.js"`},
		{"/console/assets/app.js", "javascript", "function drawMap"},
		{"/console/assets/app.css", "text/css", "--accent"},
	} {
		res, err := http.Get(f.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.holds) {
			t.Fatalf("GET %s: HTTP %d %s", tc.path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	res, err := http.Get(f.srv.URL + "/console/assets/../console.go")
	if err == nil {
		if res.StatusCode == 200 {
			t.Fatal("a path outside the assets was served")
		}
		res.Body.Close()
	}
	res, _ = http.Get(f.srv.URL + "/console/api/nothing")
	if res.StatusCode != 404 {
		t.Fatalf("unknown API: HTTP %d", res.StatusCode)
	}
	res.Body.Close()
}

// TestRecords_CloseEndsTails: Close ends the live tails' waits, so that a
// server shutting down does not wait out their 25 seconds.
func TestRecords_CloseEndsTails(t *testing.T) {
	f := newFixture(t, false)
	f.create("quiet", 1)
	c := f.client()
	var page recordPage
	c.do("GET", "/streams/quiet/records?shard=shardId-000000000000&from=LATEST", nil, &page)
	done := make(chan int)
	go func() {
		var p recordPage
		done <- c.do("GET", "/streams/quiet/records?shard=shardId-000000000000&wait=25&cursor="+page.Cursor, nil, &p)
	}()
	f.con.Close()
	select {
	case st := <-done:
		if st != 200 {
			t.Fatalf("a tail ended by Close: HTTP %d", st)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a tail still waits 15 s after Close")
	}
}
