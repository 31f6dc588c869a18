package agent

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runOption runs one processing option over a record and decodes its JSON.
func runOption(t *testing.T, o ProcessingOption, rec string) (map[string]any, bool) {
	t.Helper()
	p, err := newProcessor(&o)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recordContext{file: "/var/log/app.log", host: "web1", now: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	out, ok := p.process(nil, []byte(rec), rc)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s of %q wrote %q, which is not a JSON object: %v", o.OptionName, rec, out, err)
	}
	return m, ok
}

func TestLogToJSON_RealWorldLines(t *testing.T) {
	for _, tc := range []struct {
		format, line string
		want         map[string]any
	}{
		{FormatCommonApache, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
			map[string]any{"host": "127.0.0.1", "ident": "-", "authuser": "frank", "datetime": "10/Oct/2000:13:55:36 -0700",
				"request": "GET /apache_pb.gif HTTP/1.0", "response": "200", "bytes": "2326"}},
		{FormatCommonApache, `2001:db8::1 - - [03/Dec/2026:14:31:32 +0000] "POST /api/v1/items?id=7 HTTP/1.1" 204 -`,
			map[string]any{"host": "2001:db8::1", "ident": "-", "authuser": "-", "datetime": "03/Dec/2026:14:31:32 +0000",
				"request": "POST /api/v1/items?id=7 HTTP/1.1", "response": "204", "bytes": "-"}},
		{FormatCombinedApache, `203.0.113.9 - - [03/Dec/2026:14:31:32 +0000] "GET /search?q=\"sluice\" HTTP/2.0" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`,
			map[string]any{"host": "203.0.113.9", "ident": "-", "authuser": "-", "datetime": "03/Dec/2026:14:31:32 +0000",
				"request": `GET /search?q=\"sluice\" HTTP/2.0`, "response": "200", "bytes": "5120",
				"referrer": "https://example.com/", "agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}},
		{FormatCombinedApache, `10.0.0.5 - - [03/Dec/2026:14:31:32 +0000] "-" 408 0 "-" "-"` + "\r",
			map[string]any{"host": "10.0.0.5", "ident": "-", "authuser": "-", "datetime": "03/Dec/2026:14:31:32 +0000",
				"request": "-", "response": "408", "bytes": "0", "referrer": "-", "agent": "-"}},
		{FormatSyslog, `Dec  3 14:31:32 web1 sshd[991]: Accepted publickey for ops from 198.51.100.4 port 51234 ssh2`,
			map[string]any{"timestamp": "Dec  3 14:31:32", "hostname": "web1", "program": "sshd", "processid": "991",
				"message": "Accepted publickey for ops from 198.51.100.4 port 51234 ssh2"}},
		{FormatSyslog, `<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
			map[string]any{"priority": "34", "timestamp": "Oct 11 22:14:15", "hostname": "mymachine", "program": "su",
				"message": "'su root' failed for lonvick on /dev/pts/8"}},
		{FormatSyslog, `Dec 13 04:02:01 web1 -- MARK --`,
			map[string]any{"timestamp": "Dec 13 04:02:01", "hostname": "web1", "message": "-- MARK --"}},
		{FormatRFC3339Syslog, `2026-12-03T14:31:32.123456+00:00 web1 kernel: [12345.678] eth0: link up`,
			map[string]any{"timestamp": "2026-12-03T14:31:32.123456+00:00", "hostname": "web1", "program": "kernel",
				"message": "[12345.678] eth0: link up"}},
		{FormatRFC5424Syslog, `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
			map[string]any{"priority": "165", "version": "1", "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
				"appname": "evntslog", "msgid": "ID47", "structureddata": `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]`,
				"message": "An application event log entry..."}},
		{FormatRFC5424Syslog, `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ` + "\xef\xbb\xbf" + `'su root' failed for lonvick on /dev/pts/8`,
			map[string]any{"priority": "34", "version": "1", "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
				"appname": "su", "msgid": "ID47", "message": "'su root' failed for lonvick on /dev/pts/8"}},
		{FormatRFC5424Syslog, `<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@1 x="a \] b"][b@2]`,
			map[string]any{"priority": "165", "version": "1", "timestamp": "2003-08-24T05:14:15.000003-07:00", "hostname": "192.0.2.1",
				"appname": "myproc", "procid": "8710", "structureddata": `[a@1 x="a \] b"][b@2]`}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got, ok := runOption(t, ProcessingOption{OptionName: OptLogToJSON, LogFormat: tc.format}, tc.line)
			if !ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%q:\ngot  %v (parsed %v)\nwant %v", tc.line, got, ok, tc.want)
			}
		})
	}
}

// TestLogToJSON_MalformedLinesAreKeptRaw: a line that does not parse is
// sent as {"error": why, "raw": the line}, never dropped.
func TestLogToJSON_MalformedLinesAreKeptRaw(t *testing.T) {
	for _, tc := range []struct{ format, line, why string }{
		{FormatCommonApache, `127.0.0.1 - frank 10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.0" 200 2326`, "brackets"},
		{FormatCommonApache, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0 200 2326`, "quoted"},
		{FormatCommonApache, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 2000 2326`, "three-digit"},
		{FormatCommonApache, `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8.0"`, "COMBINEDAPACHELOG"},
		{FormatCombinedApache, `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326`, "referrer"},
		{FormatCombinedApache, ``, "host"},
		{FormatSyslog, `web1 sshd[991]: no timestamp`, "timestamp"},
		{FormatSyslog, `<999>Dec  3 14:31:32 web1 x: y`, "priority"},
		{FormatSyslog, `Dec  3 14:31:32`, "host name"},
		{FormatRFC5424Syslog, `1 2003-10-11T22:14:15.003Z host app - - - msg`, "<PRI>"},
		{FormatRFC5424Syslog, `<34>1 2003-10-11 22:14:15 host app - - - msg`, "RFC 3339"},
		{FormatRFC5424Syslog, `<34>1 2003-10-11T22:14:15Z host app - - [unclosed x="1"`, "not closed"},
		{FormatRFC5424Syslog, `<34>1 2003-10-11T22:14:15Z host app`, "ends before"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got, ok := runOption(t, ProcessingOption{OptionName: OptLogToJSON, LogFormat: tc.format}, tc.line)
			errText, _ := got["error"].(string)
			if ok || got["raw"] != tc.line || !strings.Contains(errText, tc.why) || !strings.HasPrefix(errText, "LOGTOJSON "+tc.format) || len(got) != 2 {
				t.Fatalf("%q: got %v (parsed %v); want the line raw with an error mentioning %q", tc.line, got, ok, tc.why)
			}
		})
	}
}

func TestLogToJSON_MatchPatternAndCustomNames(t *testing.T) {
	got, ok := runOption(t, ProcessingOption{OptionName: OptLogToJSON, MatchPattern: `^(\S+) level=(\w+) (.*)$`, CustomFieldNames: []string{"ts", "level", "msg"}},
		`2026-12-03T14:31:32Z level=warn disk 91% full`)
	if !ok || !reflect.DeepEqual(got, map[string]any{"ts": "2026-12-03T14:31:32Z", "level": "warn", "msg": "disk 91% full"}) {
		t.Fatalf("got %v", got)
	}
	got, ok = runOption(t, ProcessingOption{OptionName: OptLogToJSON, LogFormat: FormatCommonApache,
		CustomFieldNames: []string{"ip", "id", "user", "time", "req", "status", "size"}},
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326`)
	if !ok || got["ip"] != "127.0.0.1" || got["status"] != "200" || len(got) != 7 {
		t.Fatalf("got %v", got)
	}
	got, ok = runOption(t, ProcessingOption{OptionName: OptLogToJSON, MatchPattern: `^(\d+)$`, CustomFieldNames: []string{"n"}}, "abc")
	if ok || got["raw"] != "abc" {
		t.Fatalf("got %v", got)
	}
}

func TestCSVToJSON(t *testing.T) {
	o := ProcessingOption{OptionName: OptCSVToJSON, CustomFieldNames: []string{"time", "user", "action", "note"}}
	for _, tc := range []struct {
		line string
		want map[string]any
	}{
		{`2026-12-03,alice,login,`, map[string]any{"time": "2026-12-03", "user": "alice", "action": "login", "note": ""}},
		{`2026-12-03,"bob, jr",logout,"said ""bye"""` + "\r", map[string]any{"time": "2026-12-03", "user": "bob, jr", "action": "logout", "note": `said "bye"`}},
	} {
		got, ok := runOption(t, o, tc.line)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%q: got %v, want %v", tc.line, got, tc.want)
		}
	}
	for _, tc := range []struct{ line, why string }{
		{`2026-12-03,alice,login`, "3 fields"},
		{`2026-12-03,alice,login,x,extra`, "more than the 4 fields"},
		{`2026-12-03,"alice,login,x`, "not closed"},
		{`2026-12-03,"alice"x,login,x`, "closing quote"},
	} {
		got, ok := runOption(t, o, tc.line)
		if errText, _ := got["error"].(string); ok || got["raw"] != tc.line || !strings.Contains(errText, tc.why) {
			t.Fatalf("%q: got %v; want it raw with an error mentioning %q", tc.line, got, tc.why)
		}
	}
	tab := ProcessingOption{OptionName: OptCSVToJSON, CustomFieldNames: []string{"a", "b"}, Delimiter: `\t`}
	if got, ok := runOption(t, tab, "x\ty,z"); !ok || got["b"] != "y,z" {
		t.Fatalf("tab-separated: %v", got)
	}
}

func TestSingleLine(t *testing.T) {
	p, _ := newProcessor(&ProcessingOption{OptionName: OptSingleLine})
	out, _ := p.process(nil, []byte("java.lang.Exception: boom\n\tat a.b(c.java:1)\n   at d.e(f.java:2)  \n"), nil)
	if string(out) != "java.lang.Exception: boom at a.b(c.java:1) at d.e(f.java:2)" {
		t.Fatalf("got %q", out)
	}
}

func TestAddMetadata(t *testing.T) {
	got, _ := runOption(t, ProcessingOption{OptionName: OptAddMetadata, Metadata: map[string]string{"env": "prod"}}, `{"level":"warn"}`)
	want := map[string]any{"file": "/var/log/app.log", "host": "web1", "timestamp": "2026-01-02T03:04:05.006Z",
		"metadata": map[string]any{"env": "prod"}, "data": map[string]any{"level": "warn"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	no := false
	got, _ = runOption(t, ProcessingOption{OptionName: OptAddMetadata, Timestamp: &no, Host: &no}, "plain \"text\"")
	if !reflect.DeepEqual(got, map[string]any{"file": "/var/log/app.log", "data": "plain \"text\""}) {
		t.Fatalf("got %v", got)
	}
}

// TestPipeline_LogToJSONThenAddMetadata chains options in order; a line
// that does not parse still reaches the stream, wrapped with its error.
func TestPipeline_LogToJSONThenAddMetadata(t *testing.T) {
	h := newHarness(t, func(f *Flow) {
		f.DataProcessingOptions = []ProcessingOption{{OptionName: OptLogToJSON, LogFormat: FormatSyslog}, {OptionName: OptAddMetadata}}
	})
	h.appendRaw("a.log", "Dec  3 14:31:32 web1 cron[1]: job done\ngarbage line\n")
	h.step(false)
	got := h.dest.lines("logs")
	if len(got) != 2 {
		t.Fatalf("got %q", got)
	}
	var first, second struct {
		File string
		Data map[string]string
	}
	if json.Unmarshal([]byte(got[0]), &first) != nil || first.Data["program"] != "cron" || first.File != h.path("a.log") || !strings.HasSuffix(got[0], "}\n") {
		t.Fatalf("first record %q", got[0])
	}
	if json.Unmarshal([]byte(got[1]), &second) != nil || second.Data["raw"] != "garbage line" || second.Data["error"] == "" {
		t.Fatalf("second record %q", got[1])
	}
	if st := h.a.Stats()[0]; st.Unparsed != 1 || st.Sent != 2 {
		t.Fatalf("stats %+v; want 1 unparsed, 2 sent", st)
	}
}

func TestConfig_Errors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"flows":[{"filePattern":"/x/*.log","stream":"s"}]}`, "checkpointFile is missing"},
		{`{"checkpointFile":"/c","flows":[]}`, "flows is empty"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"x/*.log","stream":"s"}]}`, "is relative"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/[.log","stream":"s"}]}`, "not a valid glob"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log"}]}`, "names no stream"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"a b"}]}`, "not a stream name"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","partitionKeyOption":"HASH"}]}`, "use RANDOM, DETERMINISTIC or JSON_FIELD"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","partitionKeyOption":"JSON_FIELD"}]}`, "needs partitionKeyField"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","initialPosition":"LATEST"}]}`, "START_OF_FILE or END_OF_FILE"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","multiLineStartPattern":"("}]}`, "multiLineStartPattern"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","maxBufferSizeRecords":501}]}`, "1 to 500"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"NGINX"}]}]}`, `logFormat "NGINX"`},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","dataProcessingOptions":[{"optionName":"CSVTOJSON"}]}]}`, "needs customFieldNames"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","dataProcessingOptions":[{"optionName":"SINGLELINE","logFormat":"SYSLOG"}]}]}`, "SINGLELINE takes no logFormat"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","dataProcessingOptions":[{"optionName":"GZIP"}]}]}`, `optionName "GZIP"`},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s","fliePattern":"/y"}]}`, `unknown key "fliePattern"`},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"s"},{"filePattern":"/x/*.log","kinesisStream":"s"}]}`, "would be sent twice"},
		{"{\"checkpointFile\":\"/c\",\n\"flows\":[}", "line 2"},
		{`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","deliveryStream":"fh"}]}`, "Firehose destination"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v; want an error saying %q", tc.json, err, tc.want)
		}
	}
	c, err := ParseConfig([]byte(`{"checkpointFile":"/c","cloudwatch.emitMetrics":false,"flows":[{"filePattern":"/x/*.log","kinesisStream":"s","truncatedRecordTerminator":"\n"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Ignored, " ") != "cloudwatch.emitMetrics flows[0].truncatedRecordTerminator" {
		t.Fatalf("ignored keys %q", c.Ignored)
	}
	f := c.Flows[0]
	if f.Stream != "s" || f.PartitionKeyOption != KeyRandom || f.InitialPosition != StartOfFile || f.MaxBufferSizeRecords != 500 || f.MaxBufferSizeBytes != 4<<20 || f.bufferAge() != time.Second {
		t.Fatalf("defaults: %+v", f)
	}
}
