package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/ticker"
	"github.com/sluicedb/sluice/wire"
)

const putAbout = `Puts records into a stream: each RECORD argument is one record; with none, each line of standard input
is one record (its bytes without the line ending, "\n" or "\r\n"; an empty line is an empty record).
Lines are batched into PutRecords requests (up to 500 records or 1 MiB, waiting at most --linger).

The partition key is --key for every record, the --key-field of each line's JSON object, or by default
a random key per record, which spreads records evenly over the shards. Records of one key keep their
order with the default --inflight 1 unless the shard throttles and some are retried.

With --aggregate, records bound for the same shard are packed into KPL aggregates (the format of the
Kinesis Producer Library, up to 51,200 bytes each) that each take one record of the shard's quota of
1,000 records a second; sluice get, sluice's Consumer and KPL-aware consumers (the KCL, AWS Labs'
aggregation libraries) unpack them into the records put. Records of one key keep their order.

With -v each stored record prints "SHARD SEQUENCE" on standard output, in the order the server
acknowledged them, and with --aggregate "SHARD SEQUENCE SUBSEQUENCE" (its index in its aggregate), in the
order of their aggregates. The
exit status is 1 if any record was not stored.`

// putOptions are the parsed flags of `sluice put`.
type putOptions struct {
	stream    string
	key       string
	keyPath   []string // --key-field split at "."
	verbose   bool
	inflight  int
	linger    time.Duration
	aggregate bool
}

func putMain(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("put", "STREAM [RECORD...]", putAbout)
	key := f.String("key", "", "the partition key of every record (1 to 256 characters)")
	keyField := f.String("key-field", "", "take each record's partition key from this field of its JSON object (a.b for a nested field)")
	verbose := f.Bool("v", false, "print the shard and sequence number of every stored record")
	inflight := f.Int("inflight", 1, "PutRecords requests in flight at once; more is faster, but records of one key may be stored out of order")
	linger := f.Duration("linger", 5*time.Millisecond, "how long a batch that is not full waits for more lines")
	aggregate := f.Bool("aggregate", false, "pack records bound for one shard into KPL aggregates")
	pos, err := f.parse(args, 1, -1, "stream name")
	if err != nil {
		return err
	}
	o := putOptions{stream: pos[0], key: *key, verbose: *verbose, inflight: *inflight, linger: *linger, aggregate: *aggregate}
	switch {
	case *key != "" && *keyField != "":
		return usagef(f.cmd, "--key and --key-field both set the partition key; give one")
	case *key != "" && utf8.RuneCountInString(*key) > api.MaxPartitionKeyLen:
		return usagef(f.cmd, "--key is %d characters; a partition key has 1 to %d", utf8.RuneCountInString(*key), api.MaxPartitionKeyLen)
	case *inflight < 1:
		return usagef(f.cmd, "--inflight %d: want 1 or more", *inflight)
	}
	if *keyField != "" {
		o.keyPath = strings.Split(*keyField, ".")
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var src recordSource
	if len(pos) > 1 {
		src = &argSource{args: pos[1:]}
	} else {
		src = newLineReader(a.stdin, api.MaxMaxRecord)
	}
	return a.put(ctx, c, o, src)
}

// put feeds every record of src to a Producer and reports the outcome.
func (a *app) put(ctx context.Context, c *client.Client, o putOptions, src recordSource) error {
	out := newAckWriter(a.stdout, a.stderr, o.verbose)
	defer out.close()
	linger := o.linger
	if linger == 0 {
		linger = -1 // the producer's "send at once"
	}
	p, err := client.NewProducer(c, client.ProducerOptions{
		Stream: o.stream, MaxInFlight: o.inflight, Linger: linger, OnResult: out.onResult, Aggregate: o.aggregate,
		// A few full batches per request in flight keep the pipe full; more
		// only adds to what a lost connection leaves unstored.
		MaxBuffered: max(16, 4*o.inflight) << 20,
	})
	if err != nil {
		return err
	}
	// The feeder reads records and puts them until the input ends, the
	// connection is lost or ctx ends; it may stay blocked reading standard
	// input after put returns, which ends the process.
	fed := make(chan feedResult, 1)
	go func() { fed <- feed(ctx, p, o, src, out, a.stderr) }()
	var res feedResult
	select {
	case res = <-fed:
	case <-out.lost:
		// Every later record would fail too; the feeder may be blocked
		// reading standard input.
	case <-ctx.Done():
		// The feeder may be blocked reading standard input; what it has
		// put so far is flushed below.
		res.err = ctx.Err()
	}
	cctx, cancel := a.callCtx(context.WithoutCancel(ctx))
	defer cancel()
	closeErr := p.Close(cctx)
	out.close()
	st := p.Stats()
	var lostErr error
	if e := out.fatal.Load(); e != nil {
		lostErr = *e
	}
	switch {
	case lostErr != nil:
		return fmt.Errorf("%s after storing %d records; %d records were not stored or their outcome is unknown (-v prints every stored one)",
			describeError(lostErr, a.addr, a.timeout), st.Stored, st.Failed)
	case res.err != nil && errors.Is(res.err, context.Canceled):
		return fmt.Errorf("interrupted after storing %d records", st.Stored)
	case res.err != nil:
		return fmt.Errorf("%w (%d records stored before it)", res.err, st.Stored)
	case st.Failed > 0:
		var pe *client.ProducerError
		if errors.As(closeErr, &pe) {
			return fmt.Errorf("%d of %d records were not stored; the first failure: %w", st.Failed, st.Stored+st.Failed, pe.First)
		}
		return fmt.Errorf("%d of %d records were not stored", st.Failed, st.Stored+st.Failed)
	case closeErr != nil:
		return fmt.Errorf("waiting for the last records to be acknowledged: %w", closeErr)
	case res.skipped > 0:
		return fmt.Errorf("%d lines were skipped (see above); the other %d records were stored", res.skipped, st.Stored)
	}
	return nil
}

// feedResult is how feeding the producer ended.
type feedResult struct {
	err     error // reading the input failed, or ctx ended
	skipped int   // lines without a usable --key-field
}

// feed puts every record of src. It stops early when the connection is
// lost (every later record would fail too).
func feed(ctx context.Context, p *client.Producer, o putOptions, src recordSource, out *ackWriter, stderr io.Writer) feedResult {
	var res feedResult
	var keyBuf [16]byte
	for {
		data, err := src.next()
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		if out.fatal.Load() != nil {
			return res
		}
		var key []byte
		switch {
		case o.key != "":
			key = []byte(o.key)
		case o.keyPath != nil:
			key, err = jsonField(data, o.keyPath)
			if err != nil {
				res.skipped++
				fmt.Fprintf(stderr, "sluice: %s %d skipped: %v\n", src.unit(), src.number(), err)
				continue
			}
		default:
			key = randomKey(&keyBuf)
		}
		if err := p.Put(ctx, key, data); err != nil {
			if errors.Is(err, wire.ErrClosed) {
				return res
			}
			if ctx.Err() != nil {
				res.err = ctx.Err()
				return res
			}
			res.err = fmt.Errorf("%s %d: %w", src.unit(), src.number(), err)
			return res
		}
	}
}

// randomKey writes 16 random hexadecimal digits into buf.
func randomKey(buf *[16]byte) []byte {
	const hex = "0123456789abcdef"
	v := rand.Uint64()
	for i := range buf {
		buf[i] = hex[v&15]
		v >>= 4
	}
	return buf[:]
}

// jsonField returns the partition key at path in the JSON object line: a
// string's text, or a number's or boolean's JSON text.
func jsonField(line []byte, path []string) ([]byte, error) {
	cur := json.RawMessage(line)
	for i, name := range path {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil || obj == nil {
			if i == 0 {
				return nil, fmt.Errorf("not a JSON object, so it has no field %q for --key-field", strings.Join(path, "."))
			}
			return nil, fmt.Errorf("%q is not a JSON object, so it has no field %q", strings.Join(path[:i], "."), name)
		}
		v, ok := obj[name]
		if !ok {
			return nil, fmt.Errorf("the JSON object has no field %q (--key-field)", strings.Join(path[:i+1], "."))
		}
		cur = v
	}
	v := bytes.TrimSpace(cur)
	switch {
	case len(v) > 0 && v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("field %q is an empty string; a partition key has 1 to 256 characters", strings.Join(path, "."))
		}
		return []byte(s), nil
	case len(v) > 0 && (v[0] == '{' || v[0] == '[' || v[0] == 'n'):
		return nil, fmt.Errorf("field %q is %s; the partition key must be a string, number or boolean", strings.Join(path, "."), jsonKind(v[0]))
	}
	return v, nil
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "null"
}

// recordSource yields the data of the records to put. The returned slice is
// valid until the next call.
type recordSource interface {
	next() ([]byte, error)
	unit() string // "line" or "argument", for messages
	number() int  // 1-based position of the last record returned
}

type argSource struct {
	args []string
	n    int
}

func (s *argSource) next() ([]byte, error) {
	if s.n >= len(s.args) {
		return nil, io.EOF
	}
	s.n++
	return []byte(s.args[s.n-1]), nil
}

func (s *argSource) unit() string { return "argument" }
func (s *argSource) number() int  { return s.n }

// lineReader splits its input into lines without their line endings. A
// line longer than max is an error: no stream takes a record that large.
type lineReader struct {
	br   *bufio.Reader
	long []byte // a line longer than the reader's buffer
	max  int
	n    int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (l *lineReader) unit() string { return "line" }
func (l *lineReader) number() int  { return l.n }

func (l *lineReader) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(l.long) > l.max+2 {
				return nil, fmt.Errorf("line %d is longer than %d bytes, the largest record a stream takes", l.n+1, l.max)
			}
			line, err = l.br.ReadSlice('\n')
			l.long = append(l.long, line...)
		}
		line = l.long
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err != nil && err != io.EOF:
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	l.n++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	if len(line) > l.max {
		return nil, fmt.Errorf("line %d is %d bytes; the largest record a stream takes is %d", l.n, len(line), l.max)
	}
	return line, nil
}

// ackWriter prints stored records' sequence numbers (-v) from the
// producer's sender goroutines and remembers a lost connection. Output is
// buffered and flushed at most flushEvery after it was written.
type ackWriter struct {
	verbose bool
	stderr  io.Writer
	fatal   atomic.Pointer[error] // the error that ended the connection
	lost    chan struct{}         // closed when fatal is set

	// mu guards w, dirty, failures, closed and line.
	mu       sync.Mutex
	w        *bufio.Writer
	dirty    bool
	failures int // failures printed (with -v)
	closed   bool
	line     []byte
	stop     chan struct{}
	done     chan struct{}
}

const flushEvery = 50 * time.Millisecond

// maxPrintedFailures bounds the per-record failures -v prints.
const maxPrintedFailures = 10

func newAckWriter(stdout, stderr io.Writer, verbose bool) *ackWriter {
	w := &ackWriter{verbose: verbose, stderr: stderr, w: bufio.NewWriterSize(stdout, 32<<10),
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if verbose {
		go w.flushLoop()
	} else {
		close(w.done)
	}
	return w
}

// flushLoop flushes written acknowledgements every flushEvery until close,
// so that a reader of -v sees each one promptly even when no more come.
func (w *ackWriter) flushLoop() {
	defer close(w.done)
	ticker.Every(flushEvery, w.stop, func() {
		w.mu.Lock()
		if w.dirty && !w.closed {
			w.w.Flush()
			w.dirty = false
		}
		w.mu.Unlock()
	})
}

func (w *ackWriter) onResult(r client.ProducerResult) {
	if r.Err != nil {
		if errors.Is(r.Err, wire.ErrConnectionLost) || errors.Is(r.Err, wire.ErrClosed) {
			err := r.Err
			if w.fatal.CompareAndSwap(nil, &err) {
				close(w.lost)
			}
		}
		if !w.verbose {
			return
		}
		w.mu.Lock()
		w.failures++
		if w.failures <= maxPrintedFailures {
			fmt.Fprintf(w.stderr, "sluice: a record (key %q) was not stored: %v\n", r.Key, r.Err)
		}
		w.mu.Unlock()
		return
	}
	if !w.verbose {
		return
	}
	w.mu.Lock()
	if !w.closed {
		w.line = appendShardID(w.line[:0], r.Seq.Shard)
		w.line = append(w.line, ' ')
		w.line = r.Seq.AppendDecimal(w.line)
		if r.Aggregated {
			w.line = append(w.line, ' ')
			w.line = strconv.AppendInt(w.line, int64(r.SubSeq), 10)
		}
		w.line = append(w.line, '\n')
		w.w.Write(w.line)
		w.dirty = true
	}
	w.mu.Unlock()
}

// close flushes and stops the flusher; safe to call more than once.
func (w *ackWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.w.Flush()
	if w.failures > maxPrintedFailures {
		fmt.Fprintf(w.stderr, "sluice: ... and %d more records were not stored\n", w.failures-maxPrintedFailures)
	}
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}
