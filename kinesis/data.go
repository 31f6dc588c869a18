package kinesis

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
)

// Data-plane operations: PutRecord, PutRecords, GetShardIterator and
// GetRecords. PutRecords and GetRecords are the hot path: they reuse the
// request state's buffers and allocate nothing per record.

// maxDataLen is the model's limit on one record's data (10 MiB, for streams
// whose MaxRecordSizeInKiB allows it; the stream's own limit is checked by
// the engine).
const maxDataLen = api.MaxMaxRecord

// engineRecord converts a validated record for the engine. The key aliases
// the request's decoded text.
func engineRecord(key string, data []byte, explicitHashKey string) (api.PutRecord, error) {
	r := api.PutRecord{Key: bytesOf(key), Data: data}
	if explicitHashKey != "" {
		hk, err := api.ParseHashKey(explicitHashKey)
		if err != nil {
			return r, Errorf(CodeInvalidArgument,
				"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", explicitHashKey)
		}
		r.ExplicitHash, r.HasExplicitHash = hk, true
	}
	return r, nil
}

func (h *Handler) putRecord(_ context.Context, in *PutRecordInput) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	rec, err := engineRecord(in.PartitionKey, in.Data, in.ExplicitHashKey)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		if _, err := h.describe(name); err != nil {
			return nil, err
		}
		return nil, dryRun()
	}
	res, err := h.eng.PutRecord(name, rec, in.SequenceNumberForOrdering)
	if err != nil {
		if api.CodeOf(err) == api.CodeThroughputExceeded {
			return nil, h.throttled(name)
		}
		return nil, h.engErr(err)
	}
	return &PutRecordOutput{ShardId: res.ShardID, SequenceNumber: res.Seq.String(), EncryptionType: h.encryptionOf(name)}, nil
}

// isKMSCode reports the codes of the key service's refusals.
func isKMSCode(c api.Code) bool {
	switch c {
	case api.CodeKMSAccessDenied, api.CodeKMSDisabled, api.CodeKMSInvalidState, api.CodeKMSNotFound,
		api.CodeKMSOptInRequired, api.CodeKMSThrottling:
		return true
	}
	return false
}

// throttled is the ProvisionedThroughputExceededException of a write.
func (h *Handler) throttled(stream string) *Error {
	return Errorf(CodeProvisionedThroughputExceeded, "%s", h.throttleMessage(stream))
}

// throttleMessage is the message of a write refused by a shard's quota.
func (h *Handler) throttleMessage(stream string) string {
	return "Rate exceeded for a shard of stream " + stream + " under account " + h.scope.Account + "."
}

// putRecords serves PutRecords: entries refused by their shard's quota come
// back with ErrorCode ProvisionedThroughputExceededException while the rest
// are stored.
func (h *Handler) putRecords(w http.ResponseWriter, f Format, st *reqState) error {
	in := &st.putIn
	if err := st.dec.Decode(f, st.body, in); err != nil {
		return err
	}
	if err := validateRecords(in, st.dec.present, st.dec.entryPresent); err != nil {
		return err
	}
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return err
	}
	if err := h.allowStream(st, OpPutRecords, name); err != nil {
		return err
	}
	if err := h.allowKey(st, name, actionGenerateDataKey); err != nil {
		return err
	}
	recs := st.recs[:0]
	for i := range in.Records {
		e := &in.Records[i]
		r, err := engineRecord(e.PartitionKey, e.Data, e.ExplicitHashKey)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	st.recs = recs
	if in.DryRun {
		if _, err := h.describe(name); err != nil {
			return err
		}
		return dryRun()
	}
	if cap(st.results) < len(recs) {
		st.results = make([]api.PutResult, len(recs))
	}
	results := st.results[:len(recs)]
	if _, err := h.eng.PutRecords(name, recs, results); err != nil {
		return h.engErr(err)
	}
	var pw PutRecordsWriter
	pw.Begin(st.out[:0], f)
	throttleMsg := ""
	for i := range results {
		r := &results[i]
		switch {
		case r.Err == nil:
			st.seq = r.Seq.AppendDecimal(st.seq[:0])
			pw.Success(st.seq, r.ShardID)
		case api.CodeOf(r.Err) == api.CodeThroughputExceeded:
			if throttleMsg == "" {
				throttleMsg = h.throttleMessage(name)
			}
			pw.Failure(EntryErrorThroughputExceeded, throttleMsg)
		case isKMSCode(api.CodeOf(r.Err)):
			// The stream's key was disabled or removed while the batch
			// was written: the entry failed for the key, under its name.
			e := h.apiError(r.Err)
			pw.Failure(string(e.Code), e.Message)
		default:
			h.internalLog.Log(h.log, slog.LevelError, "PutRecords entry failed", "stream", name, "entry", i, "err", r.Err)
			pw.Failure(EntryErrorInternalFailure, "Internal service failure.")
		}
		results[i] = api.PutResult{}
	}
	st.out = pw.Finish(h.encryptionOf(name))
	writeOK(w, f, st.out)
	return nil
}

func (h *Handler) getShardIterator(_ context.Context, in *GetShardIteratorInput) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	idx, err := h.shardOfRequest(in.ShardId, name)
	if err != nil {
		return nil, err
	}
	if err := checkStartingPosition(in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp); err != nil {
		// A missing stream is reported first, as AWS does.
		if _, serr := h.describe(name); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	shardID := api.ShardID(idx)
	pos, err := h.eng.GetIterator(name, shardID, api.IteratorSpec{
		Type: api.IteratorType(in.ShardIteratorType), Seq: in.StartingSequenceNumber, Timestamp: in.Timestamp.Time(),
	})
	if err != nil {
		return nil, h.engErr(err)
	}
	if in.DryRun {
		return nil, dryRun()
	}
	token, err := h.iters.Encode(IteratorPosition{StreamName: name, ShardID: shardID, Incarnation: uint64(pos.Incarnation), Sequence: pos.Seq})
	if err != nil {
		return nil, err
	}
	return &GetShardIteratorOutput{ShardIterator: token}, nil
}

// iteratorTypes are the values of ShardIteratorType.
var iteratorTypes = []string{
	string(ShardIteratorTypeAtSequenceNumber), string(ShardIteratorTypeAfterSequenceNumber),
	string(ShardIteratorTypeTrimHorizon), string(ShardIteratorTypeLatest), string(ShardIteratorTypeAtTimestamp),
}

// checkStartingPosition checks that a starting position carries what its
// type needs and nothing else, in AWS's words.
func checkStartingPosition(typ ShardIteratorType, seq string, ts Timestamp) error {
	switch typ {
	case ShardIteratorTypeAtSequenceNumber, ShardIteratorTypeAfterSequenceNumber:
		if seq == "" {
			return Errorf(CodeInvalidArgument,
				"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and no StartingSequenceNumber.", typ)
		}
	case ShardIteratorTypeAtTimestamp:
		if ts.IsZero() {
			return Errorf(CodeInvalidArgument,
				"Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
	}
	if seq != "" && typ != ShardIteratorTypeAtSequenceNumber && typ != ShardIteratorTypeAfterSequenceNumber {
		return Errorf(CodeInvalidArgument,
			"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and also a StartingSequenceNumber.", typ)
	}
	if !ts.IsZero() && typ != ShardIteratorTypeAtTimestamp {
		return Errorf(CodeInvalidArgument, "The timestampInMillis parameter cannot be used with ShardIteratorType: %s", typ)
	}
	return nil
}

// getRecords serves GetRecords: up to Limit records and 10 MiB from the
// iterator's position, a fresh NextShardIterator, or none and the children
// once a closed shard is drained.
func (h *Handler) getRecords(w http.ResponseWriter, f Format, st *reqState) error {
	var in GetRecordsInput
	if err := st.dec.Decode(f, st.body, &in); err != nil {
		return err
	}
	if err := validateInput(OpGetRecords, &in, st.dec.present); err != nil {
		return err
	}
	p, err := h.iters.Decode(in.ShardIterator)
	if err != nil {
		return err
	}
	idx, err := api.ParseShardID(p.ShardID)
	if err != nil {
		return errInvalidIterator()
	}
	if in.StreamARN != "" {
		name, err := h.streamOf("", in.StreamARN)
		if err != nil {
			return err
		}
		if name != p.StreamName {
			return Errorf(CodeInvalidArgument, "the ShardIterator reads stream %s, not the stream StreamARN %s names", p.StreamName, in.StreamARN)
		}
	}
	if err := h.allowStream(st, OpGetRecords, p.StreamName); err != nil {
		return err
	}
	if err := h.allowKey(st, p.StreamName, actionDecrypt); err != nil {
		return err
	}
	if in.DryRun {
		if _, err := h.describe(p.StreamName); err != nil {
			return err
		}
		return dryRun()
	}
	limit := api.MaxReadRecords
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	pos := api.Position{Stream: p.StreamName, Incarnation: uint32(p.Incarnation), Shard: idx, Seq: p.Sequence}
	res := &st.res
	if err := h.eng.Read(pos, limit, api.MaxReadBytes, engine.ReadPolling, res); err != nil {
		return h.engErr(err)
	}
	var rw RecordsWriter
	rw.Begin(st.out[:0], f)
	if err := res.Guard(func() { st.seq = appendRead(&rw, res, st.seq) }); err != nil {
		res.Release()
		return h.engErr(&api.Error{Code: api.CodeInternal, Detail: "read shard " + p.ShardID, Err: err})
	}
	next := ""
	var children []ChildShard
	if res.ShardEnd && len(res.ChildShards) > 0 {
		children = childShardsOf(res.ChildShards)
	} else {
		// An open shard, or a closed one whose children are not installed
		// yet (a reshard is between closing its parents and committing):
		// the reader comes back with a fresh iterator.
		next, err = h.iters.Encode(IteratorPosition{StreamName: p.StreamName, ShardID: p.ShardID, Incarnation: p.Incarnation, Sequence: res.Next.Seq})
		if err != nil {
			return err
		}
	}
	st.out = rw.FinishGetRecords(next, res.MillisBehind, children)
	res.Release()
	writeOK(w, f, st.out)
	return nil
}

// appendRead adds the records of an engine read to w, each with the
// encryption it is stored under. seq is scratch for their sequence numbers;
// it is returned, grown.
func appendRead(w *RecordsWriter, res *engine.ReadResult, seq []byte) []byte {
	it := res.Iter()
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		enc := EncryptionTypeNone
		if rec.Encrypted() {
			enc = EncryptionTypeKMS
		}
		seq = rec.Seq.AppendDecimal(seq[:0])
		w.Append(&RecordView{
			SequenceNumber: seq, Arrival: TimestampFromMillis(rec.Arrival / 1e6),
			PartitionKey: rec.Key, Data: rec.Data, EncryptionType: enc,
		})
	}
	return seq
}
