package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// Processing option names, as the Kinesis Agent spells them.
const (
	OptSingleLine  = "SINGLELINE"
	OptLogToJSON   = "LOGTOJSON"
	OptCSVToJSON   = "CSVTOJSON"
	OptAddMetadata = "ADDMETADATA"
)

// recordContext is what processing knows about a record besides its bytes.
type recordContext struct {
	file string
	host string
	now  time.Time
}

// processor is one processing option. process appends the transformed
// record to dst; a record it cannot parse is not dropped: it appends
// {"error": why, "raw": the record} and reports false.
type processor interface {
	process(dst, rec []byte, rc *recordContext) ([]byte, bool)
}

// newProcessor builds the processor of one option.
func newProcessor(o *ProcessingOption) (processor, error) {
	only := func(allowed ...string) error {
		var extra []string
		if o.LogFormat != "" && !slices.Contains(allowed, "logFormat") {
			extra = append(extra, "logFormat")
		}
		if o.MatchPattern != "" && !slices.Contains(allowed, "matchPattern") {
			extra = append(extra, "matchPattern")
		}
		if o.CustomFieldNames != nil && !slices.Contains(allowed, "customFieldNames") {
			extra = append(extra, "customFieldNames")
		}
		if o.Delimiter != "" && !slices.Contains(allowed, "delimiter") {
			extra = append(extra, "delimiter")
		}
		if (o.File != nil || o.Host != nil || o.Timestamp != nil || o.Metadata != nil) && !slices.Contains(allowed, "metadata") {
			extra = append(extra, "file/host/timestamp/metadata")
		}
		if len(extra) > 0 {
			return fmt.Errorf("%s takes no %s", o.OptionName, strings.Join(extra, ", "))
		}
		return nil
	}
	switch o.OptionName {
	case OptSingleLine:
		return singleLine{}, only()
	case OptLogToJSON:
		if err := only("logFormat", "matchPattern", "customFieldNames"); err != nil {
			return nil, err
		}
		return newLogParser(o.LogFormat, o.MatchPattern, o.CustomFieldNames)
	case OptCSVToJSON:
		if err := only("customFieldNames", "delimiter"); err != nil {
			return nil, err
		}
		return newCSVParser(o.CustomFieldNames, o.Delimiter)
	case OptAddMetadata:
		if err := only("metadata"); err != nil {
			return nil, err
		}
		return newAddMetadata(o), nil
	case "":
		return nil, errors.New("optionName is missing; use SINGLELINE, LOGTOJSON, CSVTOJSON or ADDMETADATA")
	}
	return nil, fmt.Errorf("optionName %q; use SINGLELINE, LOGTOJSON, CSVTOJSON or ADDMETADATA", o.OptionName)
}

// pipeline runs a flow's processing options in order over two scratch
// buffers it keeps between records.
type pipeline struct {
	procs  []processor
	a, b   []byte
	errors int // records some option could not parse, since the last take
}

func newPipeline(opts []ProcessingOption) (*pipeline, error) {
	p := &pipeline{}
	for i := range opts {
		pr, err := newProcessor(&opts[i])
		if err != nil {
			return nil, err
		}
		p.procs = append(p.procs, pr)
	}
	return p, nil
}

// run returns the processed record, valid until the next call. The record
// is given and returned without its line terminator.
func (p *pipeline) run(rec []byte, rc *recordContext) []byte {
	cur := rec
	for i, pr := range p.procs {
		dst := &p.a
		if i%2 == 1 {
			dst = &p.b
		}
		var ok bool
		*dst, ok = pr.process((*dst)[:0], cur, rc)
		if !ok {
			p.errors++
		}
		cur = *dst
	}
	return cur
}

// appendParseError appends the record kept raw with why it did not parse.
func appendParseError(dst []byte, what string, why string, rec []byte) []byte {
	dst = append(dst, `{"error":`...)
	dst = jsonenc.AppendString(dst, what+": "+why)
	dst = append(dst, `,"raw":`...)
	dst = jsonenc.AppendString(dst, rec)
	return append(dst, '}')
}

// singleLine joins a multi-line record into one line: each line is trimmed
// of the spaces around it and the lines are joined by one space.
type singleLine struct{}

func (singleLine) process(dst, rec []byte, _ *recordContext) ([]byte, bool) {
	first := true
	for len(rec) > 0 {
		line := rec
		if i := bytes.IndexByte(rec, '\n'); i >= 0 {
			line, rec = rec[:i], rec[i+1:]
		} else {
			rec = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		dst = append(dst, line...)
		first = false
	}
	return dst, true
}

// addMetadata wraps a record as {"file","host","timestamp","metadata","data"}:
// data is the record itself where it is a JSON object or array (after
// LOGTOJSON, say), else the record as a string.
type addMetadata struct {
	file, host, timestamp bool
	metadata              []byte // the encoded "metadata" object, or nil
}

func newAddMetadata(o *ProcessingOption) *addMetadata {
	on := func(b *bool) bool { return b == nil || *b }
	m := &addMetadata{file: on(o.File), host: on(o.Host), timestamp: on(o.Timestamp)}
	if len(o.Metadata) > 0 {
		keys := make([]string, 0, len(o.Metadata))
		for k := range o.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b := []byte{'{'}
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = jsonenc.AppendString(b, o.Metadata[k])
		}
		m.metadata = append(b, '}')
	}
	return m
}

func (m *addMetadata) process(dst, rec []byte, rc *recordContext) ([]byte, bool) {
	dst = append(dst, '{')
	sep := func() {
		if len(dst) > 0 && dst[len(dst)-1] != '{' {
			dst = append(dst, ',')
		}
	}
	if m.file {
		sep()
		dst = append(dst, `"file":`...)
		dst = jsonenc.AppendString(dst, rc.file)
	}
	if m.host {
		sep()
		dst = append(dst, `"host":`...)
		dst = jsonenc.AppendString(dst, rc.host)
	}
	if m.timestamp {
		sep()
		dst = append(dst, `"timestamp":"`...)
		dst = rc.now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, '"')
	}
	if m.metadata != nil {
		sep()
		dst = append(dst, `"metadata":`...)
		dst = append(dst, m.metadata...)
	}
	sep()
	dst = append(dst, `"data":`...)
	if t := bytes.TrimSpace(rec); len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		dst = append(dst, t...)
	} else {
		dst = jsonenc.AppendString(dst, rec)
	}
	return append(dst, '}'), true
}
