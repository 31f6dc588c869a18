package main

import (
	"bufio"
	"encoding/base64"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/jsonenc"
	"github.com/sluicedb/sluice/kpl"
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

// print writes r: its data and a newline, or its JSON line. A valid KPL
// aggregate is printed as its user records, one after the other (at most
// limit of them if limit > 0), unless keep is set. n is the records
// printed.
func (p *printer) print(r *client.Record, keep bool, limit int) (n int, err error) {
	if keep || !kpl.IsAggregate(r.Data) {
		return 1, p.printSub(r, -1)
	}
	if kpl.Deaggregate(r.Data, func(sub int, u kpl.Record) bool {
		ur := *r
		ur.Key, ur.Data = u.PartitionKey, u.Data
		err = p.printSub(&ur, sub)
		n++
		return err == nil && (limit <= 0 || n < limit)
	}) {
		return n, err
	}
	return 1, p.printSub(r, -1)
}

// printConsumed writes a record a Consumer returned: a de-aggregated user
// record with its sub-sequence number.
func (p *printer) printConsumed(r *client.ConsumerRecord) error {
	sub := -1
	if r.Aggregated {
		sub = r.SubSeq
	}
	return p.printSub(&r.Record, sub)
}

// printSub writes r, a user record of sub-sequence number sub of an
// aggregate, or a plain record if sub < 0.
func (p *printer) printSub(r *client.Record, sub int) error {
	if !p.json {
		if _, err := p.w.Write(r.Data); err != nil {
			return err
		}
		return p.w.WriteByte('\n')
	}
	p.buf = appendRecordJSON(p.buf[:0], r, sub)
	_, err := p.w.Write(p.buf)
	return err
}

// appendRecordJSON appends r as one line of JSON:
//
//	{"shard":"shardId-000000000000","sequence":"…","arrival":"…","key":"…","data":"…"}
//
// with "data_base64" instead of "data" when the data is not valid UTF-8,
// and, for a user record de-aggregated from a KPL aggregate (sub >= 0),
// "subsequence":N (a number) after "sequence", the aggregate's.
func appendRecordJSON(b []byte, r *client.Record, sub int) []byte {
	b = append(b, `{"shard":"`...)
	b = appendShardID(b, r.Seq.Shard)
	b = append(b, `","sequence":"`...)
	b = r.Seq.AppendDecimal(b)
	if sub >= 0 {
		b = append(b, `","subsequence":`...)
		b = strconv.AppendInt(b, int64(sub), 10)
		b = append(b, `,"arrival":"`...)
	} else {
		b = append(b, `","arrival":"`...)
	}
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
