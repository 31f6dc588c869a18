package agent

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// Log formats of LOGTOJSON.
const (
	FormatCommonApache   = "COMMONAPACHELOG"
	FormatCombinedApache = "COMBINEDAPACHELOG"
	FormatSyslog         = "SYSLOG"        // RFC 3164
	FormatRFC3339Syslog  = "RFC3339SYSLOG" // RFC 3164 with an RFC 3339 timestamp
	FormatRFC5424Syslog  = "RFC5424SYSLOG"
)

// The field names of each format, in the order its parser fills them: the
// Kinesis Agent's names where it has the format.
var (
	commonApacheFields   = []string{"host", "ident", "authuser", "datetime", "request", "response", "bytes"}
	combinedApacheFields = append(commonApacheFields[:len(commonApacheFields):len(commonApacheFields)], "referrer", "agent")
	syslogFields         = []string{"priority", "timestamp", "hostname", "program", "processid", "message"}
	rfc5424Fields        = []string{"priority", "version", "timestamp", "hostname", "appname", "procid", "msgid", "structureddata", "message"}
)

// logParser is LOGTOJSON: it splits a line into fields by its format (or
// by MatchPattern) and writes them as a JSON object of strings. A field the
// line leaves out (a syslog line's PID, RFC 5424's "-") is left out of the
// object.
type logParser struct {
	format string
	names  []string
	split  func(line []byte, vals [][]byte) string // fills vals; returns why the line does not parse, or ""
	vals   [][]byte
}

func newLogParser(format, pattern string, names []string) (*logParser, error) {
	p := &logParser{format: format}
	var defaults []string
	switch format {
	case FormatCommonApache:
		defaults, p.split = commonApacheFields, splitCommonApache
	case FormatCombinedApache:
		defaults, p.split = combinedApacheFields, splitCombinedApache
	case FormatSyslog, FormatRFC3339Syslog:
		defaults, p.split = syslogFields, splitSyslog
	case FormatRFC5424Syslog:
		defaults, p.split = rfc5424Fields, splitRFC5424
	case "":
		if pattern == "" {
			return nil, fmt.Errorf("LOGTOJSON needs logFormat (%s, %s, %s, %s or %s) or matchPattern", FormatCommonApache, FormatCombinedApache, FormatSyslog, FormatRFC3339Syslog, FormatRFC5424Syslog)
		}
	default:
		return nil, fmt.Errorf("logFormat %q; use %s, %s, %s, %s or %s", format, FormatCommonApache, FormatCombinedApache, FormatSyslog, FormatRFC3339Syslog, FormatRFC5424Syslog)
	}
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, fmt.Errorf("matchPattern %q: %v", pattern, err)
		}
		if len(names) != re.NumSubexp() {
			return nil, fmt.Errorf("matchPattern has %d groups and customFieldNames %d names; give one name per group", re.NumSubexp(), len(names))
		}
		if p.format == "" {
			p.format = "matchPattern"
		}
		p.split = func(line []byte, vals [][]byte) string {
			m := re.FindSubmatchIndex(line)
			if m == nil {
				return "the line does not match matchPattern"
			}
			for i := range vals {
				if m[2+2*i] >= 0 {
					vals[i] = line[m[2+2*i]:m[3+2*i]]
				}
			}
			return ""
		}
		defaults = names
	}
	p.names = defaults
	if names != nil {
		if len(names) != len(defaults) {
			return nil, fmt.Errorf("customFieldNames has %d names; %s has %d fields (%s)", len(names), p.format, len(defaults), strings.Join(defaults, ", "))
		}
		p.names = names
	}
	p.vals = make([][]byte, len(p.names))
	return p, nil
}

func (p *logParser) process(dst, rec []byte, _ *recordContext) ([]byte, bool) {
	line := bytes.TrimRight(rec, "\r\n")
	clear(p.vals)
	if why := p.split(line, p.vals); why != "" {
		return appendParseError(dst, "LOGTOJSON "+p.format, why, rec), false
	}
	dst = append(dst, '{')
	first := true
	for i, v := range p.vals {
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = jsonenc.AppendString(dst, p.names[i])
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, v)
	}
	return append(dst, '}'), true
}

// scanner walks a line left to right for the hand-written parsers.
type scanner struct {
	b   []byte
	pos int
}

// token returns the bytes up to the next space (or the end) and skips the
// single space after it.
func (s *scanner) token() []byte {
	rest := s.b[s.pos:]
	i := bytes.IndexByte(rest, ' ')
	if i < 0 {
		s.pos = len(s.b)
		return rest
	}
	s.pos += i + 1
	return rest[:i]
}

// delimited returns the bytes between open and close (a backslash escapes
// the next byte) and skips a space after close; ok is false when the line
// does not hold them there.
func (s *scanner) delimited(open, close byte) ([]byte, bool) {
	if s.pos >= len(s.b) || s.b[s.pos] != open {
		return nil, false
	}
	for i := s.pos + 1; i < len(s.b); i++ {
		switch s.b[i] {
		case '\\':
			i++
		case close:
			v := s.b[s.pos+1 : i]
			s.pos = i + 1
			if s.pos < len(s.b) && s.b[s.pos] == ' ' {
				s.pos++
			}
			return v, true
		}
	}
	return nil, false
}

func (s *scanner) done() bool { return len(bytes.TrimSpace(s.b[s.pos:])) == 0 }

// splitCommonApache parses the Common Log Format:
//
//	127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
func splitCommonApache(line []byte, vals [][]byte) string {
	s := scanner{b: line}
	if why := apacheCommon(&s, vals); why != "" {
		return why
	}
	if !s.done() {
		return fmt.Sprintf("unexpected text %q after the bytes field (a combined log? use COMBINEDAPACHELOG)", clip(line[s.pos:]))
	}
	return ""
}

// splitCombinedApache parses the Combined Log Format: the common format
// followed by "referrer" "user agent".
func splitCombinedApache(line []byte, vals [][]byte) string {
	s := scanner{b: line}
	if why := apacheCommon(&s, vals); why != "" {
		return why
	}
	var ok bool
	if vals[7], ok = s.delimited('"', '"'); !ok {
		return "the referrer is not a quoted string after the bytes field"
	}
	if vals[8], ok = s.delimited('"', '"'); !ok {
		return "the user agent is not a quoted string after the referrer"
	}
	if !s.done() {
		return fmt.Sprintf("unexpected text %q after the user agent", clip(line[s.pos:]))
	}
	return ""
}

func apacheCommon(s *scanner, vals [][]byte) string {
	for i, name := range []string{"host", "ident", "authuser"} {
		vals[i] = s.token()
		if len(vals[i]) == 0 {
			return "the " + name + " field is missing"
		}
	}
	var ok bool
	if vals[3], ok = s.delimited('[', ']'); !ok {
		return "the time is not in [brackets] after the user"
	}
	if vals[4], ok = s.delimited('"', '"'); !ok {
		return "the request is not a quoted string after the time"
	}
	vals[5] = s.token()
	if len(vals[5]) != 3 || !digits(vals[5]) {
		return fmt.Sprintf("the status %q is not a three-digit number", clip(vals[5]))
	}
	vals[6] = s.token()
	if len(vals[6]) == 0 || !(digits(vals[6]) || string(vals[6]) == "-") {
		return fmt.Sprintf("the size %q is neither a number nor -", clip(vals[6]))
	}
	return ""
}

// splitSyslog parses an RFC 3164 line as syslog daemons write files, with
// or without its <PRI>, and with the classic "Mmm dd hh:mm:ss" timestamp or
// an RFC 3339 one:
//
//	<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8
//	2024-01-02T03:04:05.123456+00:00 web1 sshd[991]: Accepted publickey for ops
//
// The tag (program[pid]:) is optional: without one the rest is the message.
func splitSyslog(line []byte, vals [][]byte) string {
	s := scanner{b: line}
	if pri, ok, why := syslogPRI(&s); why != "" {
		return why
	} else if ok {
		vals[0] = pri
	}
	rest := line[s.pos:]
	switch {
	case len(rest) >= 15 && isBSDTimestamp(rest[:15]):
		vals[1] = rest[:15]
		s.pos += 15
		if s.pos < len(line) && line[s.pos] == ' ' {
			s.pos++
		}
	case len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9':
		ts := s.token()
		if !isRFC3339(ts) {
			return fmt.Sprintf("the timestamp %q is neither \"Mmm dd hh:mm:ss\" nor RFC 3339", clip(ts))
		}
		vals[1] = ts
	default:
		return fmt.Sprintf("the line does not start with a timestamp (\"Mmm dd hh:mm:ss\" or RFC 3339): %q", clip(rest))
	}
	vals[2] = s.token()
	if len(vals[2]) == 0 {
		return "the host name is missing after the timestamp"
	}
	rest = line[s.pos:]
	// The tag: up to 32 alphanumerics (RFC 3164 4.1.3; daemons allow more
	// punctuation), then [pid] or not, then a colon.
	end := bytes.IndexAny(rest, " :[")
	if end > 0 {
		prog := rest[:end]
		after := rest[end:]
		var pid []byte
		if after[0] == '[' {
			if c := bytes.IndexByte(after, ']'); c > 1 && digits(after[1:c]) {
				pid, after = after[1:c], after[c+1:]
			} else {
				after = nil
			}
		}
		if len(after) > 0 && after[0] == ':' {
			vals[3], vals[4] = prog, pid
			rest = bytes.TrimPrefix(after[1:], []byte(" "))
		}
	}
	vals[5] = rest
	return ""
}

// syslogPRI reads an optional <PRI> (0..191).
func syslogPRI(s *scanner) (pri []byte, ok bool, why string) {
	if s.pos >= len(s.b) || s.b[s.pos] != '<' {
		return nil, false, ""
	}
	end := bytes.IndexByte(s.b[s.pos:], '>')
	if end < 2 || end > 4 || !digits(s.b[s.pos+1:s.pos+end]) {
		return nil, false, "the priority is not <0> to <191>"
	}
	pri = s.b[s.pos+1 : s.pos+end]
	if n := atoiSmall(pri); n > 191 || (len(pri) > 1 && pri[0] == '0') {
		return nil, false, fmt.Sprintf("the priority <%s> is not 0 to 191", pri)
	}
	s.pos += end + 1
	return pri, true, ""
}

// splitRFC5424 parses an RFC 5424 message:
//
//	<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event
func splitRFC5424(line []byte, vals [][]byte) string {
	s := scanner{b: line}
	pri, ok, why := syslogPRI(&s)
	switch {
	case why != "":
		return why
	case !ok:
		return "the line does not start with <PRI>"
	}
	vals[0] = pri
	v := s.token()
	if len(v) == 0 || len(v) > 2 || !digits(v) || v[0] == '0' {
		return fmt.Sprintf("the version %q after <PRI> is not 1 to 99", clip(v))
	}
	vals[1] = v
	names := [...]string{"timestamp", "hostname", "app name", "process id", "message id"}
	for i, name := range names {
		if s.pos >= len(line) {
			return "the line ends before the " + name
		}
		t := s.token()
		if len(t) == 0 {
			return "the " + name + " is empty (two spaces in a row?)"
		}
		if string(t) == "-" {
			continue
		}
		if i == 0 && !isRFC3339(t) {
			return fmt.Sprintf("the timestamp %q is not RFC 3339", clip(t))
		}
		vals[2+i] = t
	}
	// STRUCTURED-DATA: "-" or one or more [id param="value" ...].
	switch {
	case s.pos >= len(line):
		return "the line ends before the structured data (\"-\" or [id ...])"
	case line[s.pos] == '-':
		s.pos++
	case line[s.pos] == '[':
		start := s.pos
		for s.pos < len(line) && line[s.pos] == '[' {
			end, why := sdElementEnd(line, s.pos)
			if why != "" {
				return why
			}
			s.pos = end
		}
		vals[7] = line[start:s.pos]
	default:
		return fmt.Sprintf("the structured data %q is neither \"-\" nor [id ...]", clip(line[s.pos:]))
	}
	if s.pos < len(line) {
		if line[s.pos] != ' ' {
			return fmt.Sprintf("unexpected text %q after the structured data", clip(line[s.pos:]))
		}
		msg := line[s.pos+1:]
		vals[8] = bytes.TrimPrefix(msg, []byte("\xef\xbb\xbf")) // the BOM of a UTF-8 message
	}
	return ""
}

// sdElementEnd returns the index just past the SD-ELEMENT starting at
// line[start] == '['; inside quoted values \" \\ and \] are escapes.
func sdElementEnd(line []byte, start int) (int, string) {
	quoted := false
	for i := start + 1; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ']' && !quoted:
			if i == start+1 {
				return 0, "an empty structured data element []"
			}
			return i + 1, ""
		}
	}
	return 0, "a structured data element is not closed by ]"
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// isBSDTimestamp reports whether b is "Mmm dd hh:mm:ss" (day padded with a
// space or a zero).
func isBSDTimestamp(b []byte) bool {
	month := false
	for _, m := range months {
		if string(b[:3]) == m {
			month = true
		}
	}
	if !month || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return false
	}
	if !(b[4] == ' ' || b[4] >= '0' && b[4] <= '3') || !isDigit(b[5]) {
		return false
	}
	return digits(b[7:9]) && digits(b[10:12]) && digits(b[13:15])
}

// isRFC3339 reports whether b looks like an RFC 3339 timestamp:
// YYYY-MM-DDThh:mm:ss, optional fraction, then Z or ±hh:mm.
func isRFC3339(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return false
	}
	if !digits(b[:4]) || !digits(b[5:7]) || !digits(b[8:10]) || !digits(b[11:13]) || !digits(b[14:16]) || !digits(b[17:19]) {
		return false
	}
	rest := b[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		return digits(rest[1:3]) && digits(rest[4:6])
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func atoiSmall(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// clip shortens a piece of a line quoted in an error.
func clip(b []byte) string {
	const most = 40
	if len(b) > most {
		return string(b[:most]) + "..."
	}
	return string(b)
}
