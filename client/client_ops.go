package client

import (
	"context"
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// Typed calls, one per operation. Each is safe for concurrent use and waits
// for its own response only. Errors the server reports are *Error, which
// errors.Is matches against the engine's sentinels (engine.ErrNotFound,
// ...); a lost connection matches ErrConnectionLost.

// Ping sends payload and waits for the server to echo it.
func (c *Client) Ping(ctx context.Context, payload []byte) error {
	bb, start := c.frame()
	bb.B = append(bb.B, payload...)
	cl, err := c.roundTrip(ctx, wire.OpPing, bb, start)
	if err != nil {
		return err
	}
	defer putCall(cl)
	if string(cl.body.B) != string(payload) {
		return fmt.Errorf("%w: the ping's echo differs from its payload", wire.ErrMalformed)
	}
	return nil
}

// CreateStream creates a stream; it is ACTIVE when the call returns.
func (c *Client) CreateStream(ctx context.Context, in api.CreateStreamInput) (*api.StreamInfo, error) {
	if err := checkStr("stream name", in.Name); err != nil {
		return nil, err
	}
	var resp wire.RespStreamInfo
	if err := c.do(ctx, wire.OpCreateStream, &wire.ReqCreateStream{In: in}, &resp); err != nil {
		return nil, err
	}
	return resp.Info, nil
}

// DeleteStream deletes a stream and its data. With consumers registered it
// fails unless enforceConsumerDeletion is set.
func (c *Client) DeleteStream(ctx context.Context, name string, enforceConsumerDeletion bool) error {
	return c.do(ctx, wire.OpDeleteStream, &wire.ReqDeleteStream{Stream: name, Value: enforceConsumerDeletion}, nil)
}

// DescribeStream describes a stream and all its shards.
func (c *Client) DescribeStream(ctx context.Context, name string) (*api.StreamInfo, error) {
	var resp wire.RespStreamInfo
	if err := c.do(ctx, wire.OpDescribeStream, &wire.ReqStream{Stream: name}, &resp); err != nil {
		return nil, err
	}
	return resp.Info, nil
}

// HotKeys returns the single hot keys the server's autoscaler reports for
// an ON_DEMAND stream: keys that keep a shard over its quota by themselves,
// which no split can spread. Servers older than the HotKeys operation
// answer with an error.
func (c *Client) HotKeys(ctx context.Context, stream string) ([]api.HotKey, error) {
	resp := wire.RespHotKeys{Stream: stream}
	if err := c.do(ctx, wire.OpHotKeys, &wire.ReqStream{Stream: stream}, &resp); err != nil {
		return nil, err
	}
	return resp.Keys, nil
}

// ListStreams returns the names of all streams, sorted.
func (c *Client) ListStreams(ctx context.Context) ([]string, error) {
	var resp wire.RespNames
	if err := c.do(ctx, wire.OpListStreams, &wire.ReqEmpty{}, &resp); err != nil {
		return nil, err
	}
	return resp.Names, nil
}

// ListShards returns every shard of a stream, open and closed, with its
// lineage (Parent, AdjacentParent).
func (c *Client) ListShards(ctx context.Context, name string) ([]api.ShardInfo, error) {
	var resp wire.RespShards
	if err := c.do(ctx, wire.OpListShards, &wire.ReqStream{Stream: name}, &resp); err != nil {
		return nil, err
	}
	return resp.Shards, nil
}

// checkStr checks that s fits a str field.
func checkStr(field, s string) error {
	if len(s) > wire.MaxStr {
		return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("%s is %d bytes; the protocol carries at most %d", field, len(s), wire.MaxStr)}
	}
	return nil
}

// checkRecord checks that a record's key fits a bytes16 field and its data
// a bytes32 field.
func checkRecord(i int, r *api.PutRecord) error {
	if len(r.Key) > wire.MaxStr {
		return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("record %d: partition key is %d bytes; the limit is 256 characters", i, len(r.Key))}
	}
	if uint64(len(r.Data)) > 1<<32-1 {
		return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("record %d: data is %d bytes; the protocol carries at most 4 GiB", i, len(r.Data))}
	}
	return nil
}

// PutRecord puts one record and returns its sequence number (whose Shard
// names the shard it went to). A throttled record fails with an error
// matching engine.ErrThroughputExceeded; nothing was stored.
func (c *Client) PutRecord(ctx context.Context, stream string, rec api.PutRecord) (api.SeqNum, error) {
	return c.putRecord(ctx, stream, &rec, "")
}

// PutRecordAfter is PutRecord with Kinesis' SequenceNumberForOrdering: after
// must be a sequence number the stream issued (decimal). Every record gets
// a number greater than all records acknowledged before the call.
func (c *Client) PutRecordAfter(ctx context.Context, stream string, rec api.PutRecord, after string) (api.SeqNum, error) {
	return c.putRecord(ctx, stream, &rec, after)
}

func (c *Client) putRecord(ctx context.Context, stream string, rec *api.PutRecord, after string) (api.SeqNum, error) {
	if err := checkStr("stream name", stream); err != nil {
		return api.SeqNum{}, err
	}
	if err := checkRecord(0, rec); err != nil {
		return api.SeqNum{}, err
	}
	bb, start := c.frameFor(2 + len(stream) + 2 + len(after) + wire.RecordSize(rec.Key, rec.Data, rec.HasExplicitHash))
	b := wire.AppendStr(bb.B, stream)
	b = wire.AppendStr(b, after)
	bb.B = wire.AppendRecord(b, rec)
	cl, err := c.roundTrip(ctx, wire.OpPutRecord, bb, start)
	if err != nil {
		return api.SeqNum{}, err
	}
	defer putCall(cl)
	return putRecordOutcome(cl.flags, cl.body, nil)
}

// putRecordOutcome decodes a PutRecord response (or passes err on).
func putRecordOutcome(flags uint8, bb *bytebufferpool.ByteBuffer, err error) (api.SeqNum, error) {
	if err != nil {
		return api.SeqNum{}, err
	}
	if flags&wire.FlagError != 0 {
		e, err := wire.DecodeErrorBody(bb.B)
		if err != nil {
			return api.SeqNum{}, err
		}
		return api.SeqNum{}, e
	}
	d := wire.NewDecoder(bb.B)
	seq := d.SeqNum("sequence number")
	if err := d.Finish(); err != nil {
		return api.SeqNum{}, fmt.Errorf("decode PutRecord response: %w", err)
	}
	return seq, nil
}

// PutRecordAsync sends a PutRecord request without waiting for its
// response: done is called once with the record's sequence number or the
// error (an *Error from the server, or one matching ErrConnectionLost),
// from the client's reader goroutine, so it must be quick and must not
// block or wait on the client. Pipelining many records this way costs no
// goroutine per record. The caller bounds how many are in flight; the
// server applies backpressure beyond its per-connection limits. If the
// request cannot be sent it returns the error and does not call done.
func (c *Client) PutRecordAsync(stream string, rec api.PutRecord, done func(api.SeqNum, error)) error {
	if err := checkStr("stream name", stream); err != nil {
		return err
	}
	if err := checkRecord(0, &rec); err != nil {
		return err
	}
	bb, start := c.frameFor(2 + len(stream) + 2 + wire.RecordSize(rec.Key, rec.Data, rec.HasExplicitHash))
	b := wire.AppendStr(bb.B, stream)
	b = wire.AppendStr(b, "")
	bb.B = wire.AppendRecord(b, &rec)
	cl := calls.Get().(*call)
	cl.putDone = done
	_, err := c.start(wire.OpPutRecord, bb, start, cl)
	return err
}

// PutRecords puts up to 500 records in one request. results must have room
// for len(recs) entries; result i is the outcome of record i: a sequence
// number, or an Err (matching engine.ErrThroughputExceeded for a throttled
// record) for a record that was not stored. failed counts those. A non-nil
// error means the whole request failed and no record was stored (unless
// the connection was lost, when the outcome is unknown).
func (c *Client) PutRecords(ctx context.Context, stream string, recs []api.PutRecord, results []api.PutResult) (failed int, err error) {
	if len(results) < len(recs) {
		return 0, fmt.Errorf("wire: results has room for %d of %d records", len(results), len(recs))
	}
	if err := checkStr("stream name", stream); err != nil {
		return 0, err
	}
	if len(recs) > 1<<16-1 {
		return 0, &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("a put carries %d records; it must carry 1 to %d", len(recs), api.MaxPutRecords)}
	}
	size := 2 + len(stream) + 2
	for i := range recs {
		if err := checkRecord(i, &recs[i]); err != nil {
			return 0, err
		}
		size += wire.RecordSize(recs[i].Key, recs[i].Data, recs[i].HasExplicitHash)
	}
	bb, start := c.frameFor(size)
	bb.B = wire.AppendPutRecords(wire.AppendStr(bb.B, stream), recs)
	return c.putRecordsFrame(ctx, wire.OpPutRecords, bb, start, len(recs), results)
}

// putRecordsFrame sends an encoded PutRecords (or PutShard) request of n
// records and decodes its response into results.
func (c *Client) putRecordsFrame(ctx context.Context, op wire.Op, bb *bytebufferpool.ByteBuffer, start, n int, results []api.PutResult) (int, error) {
	cl, err := c.roundTrip(ctx, op, bb, start)
	if err != nil {
		return 0, err
	}
	defer putCall(cl)
	resp := wire.RespPutRecords{Results: results[:0:len(results)]}
	if err := wire.DecodeMessage(cl.body.B, &resp); err != nil {
		return 0, fmt.Errorf("decode PutRecords response: %w", err)
	}
	if len(resp.Results) != n {
		return 0, fmt.Errorf("%w: the PutRecords response has %d results for %d records", wire.ErrMalformed, len(resp.Results), n)
	}
	return resp.Failed, nil
}

// GetIterator returns the position where reading a shard starts according
// to spec. Positions do not expire.
func (c *Client) GetIterator(ctx context.Context, stream, shardID string, spec api.IteratorSpec) (api.Position, error) {
	idx, err := api.ParseShardID(shardID)
	if err != nil {
		return api.Position{}, err
	}
	m := wire.ReqGetIterator{Stream: stream, Shard: uint32(idx), Type: spec.Type, Timestamp: spec.Timestamp}
	if wire.IterCode(spec.Type) == 0 {
		return api.Position{}, &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("shard iterator type %q is not one of AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP", spec.Type)}
	}
	if spec.Type == api.AtSequenceNumber || spec.Type == api.AfterSequenceNumber {
		if spec.Seq == "" {
			return api.Position{}, &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
				Message: fmt.Sprintf("StartingSequenceNumber is required for %s", spec.Type)}
		}
		sn, err := api.ParseSeqNum(spec.Seq)
		if err != nil {
			return api.Position{}, err
		}
		m.Seq = sn
	}
	var resp wire.RespPosition
	if err := c.do(ctx, wire.OpGetIterator, &m, &resp); err != nil {
		return api.Position{}, err
	}
	return resp.Pos, nil
}

// Read reads up to maxRecords records and about maxBytes bytes from pos (0
// for either means the server's limit: 10,000 records, 10 MiB). Every
// record's CRC is verified. Release the result when done with it.
func (c *Client) Read(ctx context.Context, pos api.Position, maxRecords, maxBytes int) (*ReadResult, error) {
	res := &ReadResult{}
	if err := c.ReadInto(ctx, pos, maxRecords, maxBytes, res); err != nil {
		return nil, err
	}
	return res, nil
}

// ReadInto is Read into a caller's result, which it releases first and
// whose Records slice it reuses: a loop of reads into one result does not
// allocate per read beyond the next position's stream name.
func (c *Client) ReadInto(ctx context.Context, pos api.Position, maxRecords, maxBytes int, res *ReadResult) error {
	res.Release()
	bb, start := c.frame()
	bb.B = (&wire.ReqRead{Pos: pos, MaxRecords: clampU32(maxRecords), MaxBytes: clampU32(maxBytes)}).AppendTo(bb.B)
	cl, err := c.roundTrip(ctx, wire.OpRead, bb, start)
	if err != nil {
		return err
	}
	frames, err := wire.DecodeResult(cl.body.B, &res.head)
	if err != nil {
		putCall(cl)
		return fmt.Errorf("decode Read response: %w", err)
	}
	if !sameShard(res.head.Next, pos) {
		putCall(cl)
		return fmt.Errorf("%w: the Read response is for %s/%d/%d, not the shard read", wire.ErrMalformed, res.head.Next.Stream, res.head.Next.Incarnation, res.head.Next.Shard)
	}
	res.body, cl.body = cl.body, nil
	putCall(cl)
	if err := res.decode(frames, &res.head); err != nil {
		res.Release()
		return err
	}
	return nil
}

func clampU32(n int) uint32 {
	if n <= 0 {
		return 0
	}
	return uint32(min(n, 1<<32-1))
}

// SplitShard splits a shard in two at newStart, the first hash key of the
// upper child.
func (c *Client) SplitShard(ctx context.Context, stream, shardID string, newStart api.HashKey) error {
	idx, err := api.ParseShardID(shardID)
	if err != nil {
		return err
	}
	return c.do(ctx, wire.OpSplitShard, &wire.ReqSplitShard{Stream: stream, Shard: uint32(idx), NewStart: newStart}, nil)
}

// MergeShards merges two adjacent shards into one.
func (c *Client) MergeShards(ctx context.Context, stream, shardID, adjacentID string) error {
	a, b, err := api.ParseShardPair(shardID, adjacentID)
	if err != nil {
		return err
	}
	return c.do(ctx, wire.OpMergeShards, &wire.ReqMergeShards{Stream: stream, Shard: uint32(a), Adjacent: uint32(b)}, nil)
}

// UpdateShardCount rescales a stream to target open shards of uniform hash
// key ranges.
func (c *Client) UpdateShardCount(ctx context.Context, stream string, target int) error {
	return c.do(ctx, wire.OpUpdateShardCount, &wire.ReqStreamN{Stream: stream, Value: clampU32(target)}, nil)
}

// IncreaseRetention raises a stream's retention period (24..8760 hours).
func (c *Client) IncreaseRetention(ctx context.Context, stream string, hours int) error {
	return c.do(ctx, wire.OpIncreaseRetention, &wire.ReqStreamN{Stream: stream, Value: clampU32(hours)}, nil)
}

// DecreaseRetention lowers a stream's retention period.
func (c *Client) DecreaseRetention(ctx context.Context, stream string, hours int) error {
	return c.do(ctx, wire.OpDecreaseRetention, &wire.ReqStreamN{Stream: stream, Value: clampU32(hours)}, nil)
}

// AddTags adds or replaces tags of a stream.
func (c *Client) AddTags(ctx context.Context, stream string, tags map[string]string) error {
	return c.do(ctx, wire.OpAddTags, &wire.ReqAddTags{Stream: stream, Value: tags}, nil)
}

// RemoveTags removes tags of a stream by key.
func (c *Client) RemoveTags(ctx context.Context, stream string, keys []string) error {
	return c.do(ctx, wire.OpRemoveTags, &wire.ReqRemoveTags{Stream: stream, Value: keys}, nil)
}

// ListTags returns a stream's tags.
func (c *Client) ListTags(ctx context.Context, stream string) (map[string]string, error) {
	var resp wire.RespTags
	if err := c.do(ctx, wire.OpListTags, &wire.ReqStream{Stream: stream}, &resp); err != nil {
		return nil, err
	}
	if resp.Tags == nil {
		resp.Tags = map[string]string{}
	}
	return resp.Tags, nil
}

// SetQuotas sets a stream's per-shard limits; nil returns it to the
// server's default.
func (c *Client) SetQuotas(ctx context.Context, stream string, q *ratelimit.Limits) error {
	return c.do(ctx, wire.OpSetQuotas, &wire.ReqSetQuotas{Stream: stream, Value: q}, nil)
}

// SetDurability sets a stream's acknowledgement mode; DurabilityDefault
// returns it to the server's.
func (c *Client) SetDurability(ctx context.Context, stream string, d api.Durability) error {
	return c.do(ctx, wire.OpSetDurability, &wire.ReqSetDurability{Stream: stream, Value: d}, nil)
}

// SetMaxRecordSize sets the limit on key+data of one record (1 KiB..10 MiB).
func (c *Client) SetMaxRecordSize(ctx context.Context, stream string, bytes int) error {
	return c.do(ctx, wire.OpSetMaxRecordSize, &wire.ReqStreamN{Stream: stream, Value: clampU32(bytes)}, nil)
}

// SetStreamMode switches a stream between PROVISIONED and ON_DEMAND.
func (c *Client) SetStreamMode(ctx context.Context, stream string, mode api.StreamMode) error {
	if wire.ModeCode(mode) == wire.ModeDefault {
		return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("stream mode %q is not PROVISIONED or ON_DEMAND", mode)}
	}
	return c.do(ctx, wire.OpSetStreamMode, &wire.ReqSetStreamMode{Stream: stream, Value: mode}, nil)
}
