package agent

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// csvParser is CSVTOJSON: one line of delimited fields (RFC 4180 quoting:
// a quoted field may hold the delimiter, and "" is a quote) becomes a JSON
// object of strings named by customFieldNames. A line with another number
// of fields, or a broken quote, is kept raw with an error.
type csvParser struct {
	names []string
	delim byte
	field []byte // the current field, unquoted
}

func newCSVParser(names []string, delim string) (*csvParser, error) {
	if len(names) == 0 {
		return nil, errors.New("CSVTOJSON needs customFieldNames, the names of the columns in order")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("customFieldNames names %q twice", n)
		}
		seen[n] = true
	}
	p := &csvParser{names: names, delim: ','}
	switch {
	case delim == `\t`:
		p.delim = '\t'
	case delim == "":
	case len(delim) == 1 && delim[0] < utf8.RuneSelf && delim[0] != '"' && delim[0] != '\n' && delim[0] != '\r':
		p.delim = delim[0]
	default:
		return nil, fmt.Errorf("delimiter %q; give one ASCII character other than a quote or a line break", delim)
	}
	return p, nil
}

func (p *csvParser) process(dst, rec []byte, _ *recordContext) ([]byte, bool) {
	line := bytes.TrimRight(rec, "\r\n")
	start := len(dst)
	dst = append(dst, '{')
	pos, n := 0, 0
	for {
		var why string
		pos, why = p.next(line, pos)
		if why != "" {
			return appendParseError(dst[:start], "CSVTOJSON", why, rec), false
		}
		if n == len(p.names) {
			return appendParseError(dst[:start], "CSVTOJSON", fmt.Sprintf("more than the %d fields customFieldNames names", len(p.names)), rec), false
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, p.names[n])
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, p.field)
		n++
		if pos > len(line) {
			break
		}
	}
	if n != len(p.names) {
		return appendParseError(dst[:start], "CSVTOJSON", fmt.Sprintf("%d fields; customFieldNames names %d", n, len(p.names)), rec), false
	}
	return append(dst, '}'), true
}

// next reads the field at line[pos:] into p.field and returns the position
// after its delimiter (len(line)+1 after the last field).
func (p *csvParser) next(line []byte, pos int) (int, string) {
	p.field = p.field[:0]
	if pos < len(line) && line[pos] == '"' {
		for i := pos + 1; i < len(line); i++ {
			if line[i] != '"' {
				p.field = append(p.field, line[i])
				continue
			}
			if i+1 < len(line) && line[i+1] == '"' {
				p.field = append(p.field, '"')
				i++
				continue
			}
			switch {
			case i+1 == len(line):
				return len(line) + 1, ""
			case line[i+1] == p.delim:
				return i + 2, ""
			}
			return 0, `text after a closing quote (a quote inside a quoted field is written "")`
		}
		return 0, "a quoted field is not closed"
	}
	end := bytes.IndexByte(line[pos:], p.delim)
	if end < 0 {
		p.field = append(p.field, line[pos:]...)
		return len(line) + 1, ""
	}
	p.field = append(p.field, line[pos:pos+end]...)
	return pos + end + 1, ""
}
