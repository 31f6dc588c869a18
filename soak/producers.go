package soak

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// maxDataSize bounds a producer's record data: 1..2 KiB, so that a batch
// is a realistic mix of small records.
const maxDataSize = 2 << 10

// recordID names a record a producer sent: producer p's n-th record.
type recordID struct{ p, n uint32 }

// payload returns the partition key and data of producer p's record n.
// They are the same every time, so that the verifier checks stored records
// byte for byte without the soak keeping them.
func payload(id recordID) (key, data []byte) {
	rng := rand.New(rand.NewPCG(uint64(id.p), uint64(id.n)))
	data = make([]byte, 1+rng.IntN(maxDataSize))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return fmt.Appendf(nil, "p%d-%d", id.p, id.n), data
}

// parseKey recovers the record a partition key names.
func parseKey(key []byte) (recordID, bool) {
	ps, ns, ok := strings.Cut(string(key), "-")
	if !ok || !strings.HasPrefix(ps, "p") {
		return recordID{}, false
	}
	p, err1 := strconv.ParseUint(ps[1:], 10, 32)
	n, err2 := strconv.ParseUint(ns, 10, 32)
	return recordID{uint32(p), uint32(n)}, err1 == nil && err2 == nil
}

// ackLog is every acknowledged record, by the sequence number the server
// acknowledged it with.
type ackLog struct {
	mu   sync.Mutex // guards acks and dups
	acks map[api.SeqNum]recordID
	dups []string // sequence numbers acknowledged twice
}

func newAckLog() *ackLog { return &ackLog{acks: map[api.SeqNum]recordID{}} }

func (l *ackLog) add(seq api.SeqNum, id recordID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.acks[seq]; ok && len(l.dups) < 10 {
		l.dups = append(l.dups, fmt.Sprintf("%v acknowledged for %v and %v", seq, old, id))
	}
	l.acks[seq] = id
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// producer puts batches of records until ctx ends or it has sent max
// records, recording every acknowledgement. A non-nil error means a
// normal client was refused or cut off while the server was under attack.
type producer func(ctx context.Context, p uint32, max int, acks *ackLog) error

// pacer spaces a producer's batches so that it sends about rate records a
// second: the soak is a steady load next to the attacks, not a throughput
// test, and its data must fit on disk and be read back in reasonable time.
type pacer struct{ tick *time.Ticker }

func newPacer(rate, batch int) pacer {
	return pacer{time.NewTicker(time.Duration(batch) * time.Second / time.Duration(rate))}
}

// wait returns when the next batch is due, or false when ctx ends first.
func (p pacer) wait(ctx context.Context) bool {
	select {
	case <-p.tick.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p pacer) stop() { p.tick.Stop() }

// wireProducer puts through the Go client on one connection.
func wireProducer(addr, stream string, batch, rate int) producer {
	return func(ctx context.Context, p uint32, max int, acks *ackLog) error {
		cl, err := client.Dial(ctx, addr, client.ClientOptions{})
		if err != nil {
			return fmt.Errorf("producer %d: dial: %w", p, err)
		}
		defer cl.Close()
		recs := make([]api.PutRecord, batch)
		results := make([]api.PutResult, batch)
		pace := newPacer(rate, batch)
		defer pace.stop()
		for n := 0; n < max && pace.wait(ctx); n += batch {
			k := min(batch, max-n)
			for i := range k {
				recs[i].Key, recs[i].Data = payload(recordID{p, uint32(n + i)})
			}
			if _, err := cl.PutRecords(ctx, stream, recs[:k], results); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("producer %d (binary protocol): put of records %d..%d: %w", p, n, n+k-1, err)
			}
			for i, r := range results[:k] {
				if r.Err != nil {
					return fmt.Errorf("producer %d (binary protocol): record %d refused: %w", p, n+i, r.Err)
				}
				acks.add(r.Seq, recordID{p, uint32(n + i)})
			}
		}
		return nil
	}
}

// httpProducer puts through the Kinesis API (PutRecords, JSON) over one
// keep-alive connection at a time.
func httpProducer(httpAddr, stream string, batch, rate int) producer {
	return func(ctx context.Context, p uint32, max int, acks *ackLog) error {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
		defer hc.CloseIdleConnections()
		type entry struct {
			Data         string `json:"Data"`
			PartitionKey string `json:"PartitionKey"`
		}
		type request struct {
			StreamName string  `json:"StreamName"`
			Records    []entry `json:"Records"`
		}
		var out struct {
			FailedRecordCount int
			Records           []struct{ SequenceNumber, ShardId, ErrorCode, ErrorMessage string }
		}
		pace := newPacer(rate, batch)
		defer pace.stop()
		for n := 0; n < max && pace.wait(ctx); n += batch {
			k := min(batch, max-n)
			in := request{StreamName: stream, Records: make([]entry, k)}
			for i := range k {
				key, data := payload(recordID{p, uint32(n + i)})
				in.Records[i] = entry{Data: base64.StdEncoding.EncodeToString(data), PartitionKey: string(key)}
			}
			out.Records = nil
			if err := apiCall(ctx, hc, httpAddr, "PutRecords", &in, &out); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("producer %d (Kinesis API): put of records %d..%d: %w", p, n, n+k-1, err)
			}
			if len(out.Records) != k {
				return fmt.Errorf("producer %d (Kinesis API): %d results for %d records", p, len(out.Records), k)
			}
			for i, r := range out.Records {
				if r.ErrorCode != "" {
					return fmt.Errorf("producer %d (Kinesis API): record %d refused: %s: %s", p, n+i, r.ErrorCode, r.ErrorMessage)
				}
				seq, err := api.ParseSeqNum(r.SequenceNumber)
				if err != nil || api.ShardID(int(seq.Shard)) != r.ShardId {
					return errors.Join(fmt.Errorf("producer %d (Kinesis API): record %d acknowledged as %s on %s", p, n+i, r.SequenceNumber, r.ShardId), err)
				}
				acks.add(seq, recordID{p, uint32(n + i)})
			}
		}
		return nil
	}
}
