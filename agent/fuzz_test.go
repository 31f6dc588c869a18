package agent

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeCheckpoints decodes arbitrary checkpoint files: no crash, and
// a file that decodes re-encodes to the same bytes.
func FuzzDecodeCheckpoints(f *testing.F) {
	f.Add(encodeCheckpoints(nil, nil))
	f.Add(encodeCheckpoints(nil, sampleCheckpoints()))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeCheckpoints(b)
		if err != nil {
			return
		}
		if again := encodeCheckpoints(nil, entries); !bytes.Equal(again, b) {
			t.Fatalf("decoded %d entries that re-encode differently", len(entries))
		}
	})
}

// FuzzLogToJSON parses arbitrary lines in every log format: the output is
// always one JSON object, and a line that does not parse is in it raw.
func FuzzLogToJSON(f *testing.F) {
	f.Add(uint8(0), `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`)
	f.Add(uint8(1), `1.2.3.4 - - [03/Dec/2026:14:31:32 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"`)
	f.Add(uint8(2), `<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed`)
	f.Add(uint8(3), `2026-12-03T14:31:32.1+00:00 web1 kernel: up`)
	f.Add(uint8(4), `<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a@1 x="\]"] msg`)
	formats := []string{FormatCommonApache, FormatCombinedApache, FormatSyslog, FormatRFC3339Syslog, FormatRFC5424Syslog}
	parsers := make([]*logParser, len(formats))
	for i, fm := range formats {
		p, err := newLogParser(fm, "", nil)
		if err != nil {
			f.Fatal(err)
		}
		parsers[i] = p
	}
	f.Fuzz(func(t *testing.T, which uint8, line string) {
		p := parsers[int(which)%len(parsers)]
		out, ok := p.process(nil, []byte(line), nil)
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s of %q wrote %q: %v", p.format, line, out, err)
		}
		if !ok && m["error"] == "" {
			t.Fatalf("%s of %q failed without an error field: %q", p.format, line, out)
		}
	})
}

// FuzzCSVToJSON parses arbitrary lines: always one JSON object, with
// every column or with the line raw and an error.
func FuzzCSVToJSON(f *testing.F) {
	f.Add(`a,"b,c",""""`)
	f.Add(`a,b`)
	f.Add(`"unclosed,x,y`)
	p, err := newCSVParser([]string{"x", "y", "z"}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		out, ok := p.process(nil, []byte(line), nil)
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%q wrote %q: %v", line, out, err)
		}
		if ok != (len(m) == 3 && m["error"] == "") {
			t.Fatalf("%q: parsed %v, wrote %q", line, ok, out)
		}
	})
}

// FuzzParseConfig decodes arbitrary configuration files without a crash;
// one that is accepted has every default filled in.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"checkpointFile":"/c","flows":[{"filePattern":"/var/log/*.log","stream":"logs","multiLineStartPattern":"^\\d","dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG"}]}]}`))
	f.Add([]byte(`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*","kinesisStream":"s","partitionKeyOption":"JSON_FIELD","partitionKeyField":"a.b"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, fl := range c.Flows {
			if fl.Stream == "" || fl.MaxBufferSizeRecords == 0 || fl.MaxBufferSizeBytes == 0 || fl.MaxBufferAgeMillis == 0 || fl.PartitionKeyOption == "" {
				t.Fatalf("accepted a flow without its defaults: %+v", fl)
			}
		}
	})
}
