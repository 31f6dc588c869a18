package main

import (
	"bufio"
	"encoding/base64"
	"io"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/jsonenc"
)

// printer writes records as `sluice get` prints them. It reuses one buffer:
// printing a record does not allocate.
type printer struct {
	w    *bufio.Writer
	json bool
	buf  []byte
}

func newPrinter(w io.Writer, json bool) *printer {
	return &printer{w: bufio.NewWriterSize(w, 64<<10), json: json}
}

// print writes r: its data and a newline, or its JSON line.
func (p *printer) print(r *client.Record) error {
	if !p.json {
		if _, err := p.w.Write(r.Data); err != nil {
			return err
		}
		return p.w.WriteByte('\n')
	}
	p.buf = appendRecordJSON(p.buf[:0], r)
	_, err := p.w.Write(p.buf)
	return err
}

// appendRecordJSON appends r as one line of JSON:
//
//	{"shard":"shardId-000000000000","sequence":"…","arrival":"…","key":"…","data":"…"}
//
// with "data_base64" instead of "data" when the data is not valid UTF-8.
func appendRecordJSON(b []byte, r *client.Record) []byte {
	b = append(b, `{"shard":"`...)
	b = appendShardID(b, r.Seq.Shard)
	b = append(b, `","sequence":"`...)
	b = r.Seq.AppendDecimal(b)
	b = append(b, `","arrival":"`...)
	b = r.Arrival.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","key":`...)
	b = jsonenc.AppendString(b, r.Key)
	if utf8.Valid(r.Data) {
		b = append(b, `,"data":`...)
		b = jsonenc.AppendString(b, r.Data)
	} else {
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Data)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// appendShardID appends the Kinesis id of shard index idx
// (shardId-000000000007) without allocating.
func appendShardID(b []byte, idx uint32) []byte {
	var d [12]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = '0' + byte(idx%10)
		idx /= 10
	}
	b = append(b, "shardId-"...)
	return append(b, d[:]...)
}
