package kinesis

// RecordView is a record in the form the engine hands it out: the external
// sequence number as decimal digits and the key and data as byte slices. The
// slices need only stay valid for the call that takes the RecordView.
type RecordView struct {
	SequenceNumber []byte
	Arrival        Timestamp
	PartitionKey   []byte
	Data           []byte
	EncryptionType EncryptionType
}

// RecordsWriter encodes a GetRecords response body, or a SubscribeToShardEvent
// payload, record by record into a caller-owned buffer, allocating nothing:
// Begin, Append for each record, then FinishGetRecords or
// FinishSubscribeToShardEvent. Records is the first member, so records can
// be written as they are read. A RecordsWriter is reusable and not safe for
// concurrent use.
type RecordsWriter struct {
	f   Format
	buf []byte
	n   int
}

// Begin starts a body in format f, appending to dst.
func (w *RecordsWriter) Begin(dst []byte, f Format) {
	w.f, w.n = f, 0
	w.buf = beginRecords(dst, f)
}

// beginRecords appends the start of a body whose first member is the list
// Records, up to the list's first element.
func beginRecords(dst []byte, f Format) []byte {
	if f == FormatCBOR {
		// Indefinite-length map and array: the member and record counts are
		// not known yet. Jackson, which reads CBOR for the Java SDKs, accepts
		// them (its own generator writes them).
		dst = append(dst, cborIndefMap)
		dst = appendCBORText(dst, "Records")
		return append(dst, cborIndefArray)
	}
	return append(dst, `{"Records":[`...)
}

// Append adds one record.
func (w *RecordsWriter) Append(r *RecordView) {
	w.buf = appendRecord(w.buf, w.f, w.n == 0, r.SequenceNumber, r.Arrival, r.PartitionKey, r.Data, r.EncryptionType)
	w.n++
}

// Len returns the number of records appended since Begin.
func (w *RecordsWriter) Len() int { return w.n }

// record adds one record of the struct form.
func (w *RecordsWriter) record(r *Record) {
	w.buf = appendRecord(w.buf, w.f, w.n == 0, r.SequenceNumber, r.ApproximateArrivalTimestamp, r.PartitionKey, r.Data, r.EncryptionType)
	w.n++
}

// FinishGetRecords ends a GetRecords response and returns the buffer. An
// empty nextIterator is omitted (the shard is closed and drained); children
// are written when not empty.
func (w *RecordsWriter) FinishGetRecords(nextIterator string, millisBehind int64, children []ChildShard) []byte {
	return w.finish("NextShardIterator", nextIterator, millisBehind, children)
}

// FinishSubscribeToShardEvent ends a SubscribeToShardEvent payload and
// returns the buffer. An empty continuation is omitted (the shard is closed
// and drained); children are written when not empty.
func (w *RecordsWriter) FinishSubscribeToShardEvent(continuation string, millisBehind int64, children []ChildShard) []byte {
	return w.finish("ContinuationSequenceNumber", continuation, millisBehind, children)
}

func (w *RecordsWriter) finish(posName, pos string, millisBehind int64, children []ChildShard) []byte {
	b := w.buf
	if w.f == FormatCBOR {
		b = append(b, cborBreak)
		if pos != "" {
			b = appendCBORText(b, posName)
			b = appendCBORText(b, pos)
		}
		b = appendCBORText(b, "MillisBehindLatest")
		b = appendCBORInt(b, millisBehind)
		if len(children) > 0 {
			b = appendCBORText(b, "ChildShards")
			b = appendChildShardsCBOR(b, children)
		}
		b = append(b, cborBreak)
	} else {
		b = append(b, ']')
		if pos != "" {
			b = append(b, ',')
			b = appendJSONKey(b, posName)
			b = appendJSONString(b, pos)
		}
		b = append(b, `,"MillisBehindLatest":`...)
		b = appendJSONInt(b, millisBehind)
		if len(children) > 0 {
			b = append(b, `,"ChildShards":`...)
			b = appendChildShardsJSON(b, children)
		}
		b = append(b, '}')
	}
	w.buf = nil
	return b
}

// appendRecord appends one Record object in format f.
func appendRecord[S ~string | ~[]byte](b []byte, f Format, first bool, seq S, arrival Timestamp, key S, data []byte, enc EncryptionType) []byte {
	if f == FormatCBOR {
		n := uint64(3)
		if arrival.valid {
			n++
		}
		if enc != "" {
			n++
		}
		b = appendCBORHead(b, cborMajorMap, n)
		b = appendCBORText(b, "SequenceNumber")
		b = appendCBORHead(b, cborMajorText, uint64(len(seq)))
		b = append(b, seq...)
		if arrival.valid {
			b = appendCBORText(b, "ApproximateArrivalTimestamp")
			b = appendCBORInt(b, arrival.ms)
		}
		b = appendCBORText(b, "Data")
		b = appendCBORBytes(b, data)
		b = appendCBORText(b, "PartitionKey")
		b = appendCBORValidText(b, key)
		if enc != "" {
			b = appendCBORText(b, "EncryptionType")
			b = appendCBORText(b, string(enc))
		}
		return b
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, `{"SequenceNumber":`...)
	b = appendJSONString(b, seq)
	if arrival.valid {
		b = append(b, `,"ApproximateArrivalTimestamp":`...)
		b = appendEpochSeconds(b, arrival.ms)
	}
	b = append(b, `,"Data":`...)
	b = appendJSONBase64(b, data)
	b = append(b, `,"PartitionKey":`...)
	b = appendJSONString(b, key)
	if enc != "" {
		b = append(b, `,"EncryptionType":`...)
		b = appendJSONString(b, enc)
	}
	return append(b, '}')
}

// appendChildShardsJSON appends a ChildShards list.
func appendChildShardsJSON(b []byte, children []ChildShard) []byte {
	b = append(b, '[')
	for i := range children {
		c := &children[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ShardId":`...)
		b = appendJSONString(b, c.ShardId)
		b = append(b, `,"ParentShards":[`...)
		for j, p := range c.ParentShards {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, `],"HashKeyRange":{"StartingHashKey":`...)
		b = appendJSONString(b, c.HashKeyRange.StartingHashKey)
		b = append(b, `,"EndingHashKey":`...)
		b = appendJSONString(b, c.HashKeyRange.EndingHashKey)
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

// appendChildShardsCBOR appends a ChildShards array.
func appendChildShardsCBOR(b []byte, children []ChildShard) []byte {
	b = appendCBORHead(b, cborMajorArray, uint64(len(children)))
	for i := range children {
		c := &children[i]
		b = append(b, cborMajorMap|3)
		b = appendCBORText(b, "ShardId")
		b = appendCBORText(b, toValidUTF8(c.ShardId))
		b = appendCBORText(b, "ParentShards")
		b = appendCBORHead(b, cborMajorArray, uint64(len(c.ParentShards)))
		for _, p := range c.ParentShards {
			b = appendCBORText(b, toValidUTF8(p))
		}
		b = appendCBORText(b, "HashKeyRange")
		b = append(b, cborMajorMap|2)
		b = appendCBORText(b, "StartingHashKey")
		b = appendCBORText(b, toValidUTF8(c.HashKeyRange.StartingHashKey))
		b = appendCBORText(b, "EndingHashKey")
		b = appendCBORText(b, toValidUTF8(c.HashKeyRange.EndingHashKey))
	}
	return b
}

// PutRecordsWriter encodes a PutRecords response entry by entry into a
// caller-owned buffer, allocating nothing: Begin, Success or Failure for each
// request entry in order, then Finish. It counts the failures for
// FailedRecordCount. A PutRecordsWriter is reusable and not safe for
// concurrent use.
type PutRecordsWriter struct {
	f      Format
	buf    []byte
	n      int
	failed int
}

// Begin starts a response in format f, appending to dst.
func (w *PutRecordsWriter) Begin(dst []byte, f Format) {
	w.f, w.n, w.failed = f, 0, 0
	w.buf = beginRecords(dst, f)
}

// Success adds the result of a written record: its sequence number (decimal
// digits) and shard.
func (w *PutRecordsWriter) Success(seq []byte, shardID string) {
	w.buf = appendPutResult(w.buf, w.f, w.n == 0, seq, shardID)
	w.n++
}

// success is Success for the struct form.
func (w *PutRecordsWriter) success(seq, shardID string) {
	w.buf = appendPutResult(w.buf, w.f, w.n == 0, seq, shardID)
	w.n++
}

// Failure adds the result of a record that was not written: code is
// EntryErrorThroughputExceeded or EntryErrorInternalFailure.
func (w *PutRecordsWriter) Failure(code, message string) {
	b := w.buf
	if w.f == FormatCBOR {
		b = append(b, cborMajorMap|2)
		b = appendCBORText(b, "ErrorCode")
		b = appendCBORText(b, toValidUTF8(code))
		b = appendCBORText(b, "ErrorMessage")
		b = appendCBORText(b, toValidUTF8(message))
	} else {
		if w.n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ErrorCode":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"ErrorMessage":`...)
		b = appendJSONString(b, message)
		b = append(b, '}')
	}
	w.buf = b
	w.n++
	w.failed++
}

// Failed returns the number of failures added since Begin.
func (w *PutRecordsWriter) Failed() int { return w.failed }

// Finish ends the response and returns the buffer; enc is the stream's
// encryption type (omitted when empty).
func (w *PutRecordsWriter) Finish(enc EncryptionType) []byte {
	b := w.buf
	if w.f == FormatCBOR {
		b = append(b, cborBreak)
		b = appendCBORText(b, "FailedRecordCount")
		b = appendCBORInt(b, int64(w.failed))
		if enc != "" {
			b = appendCBORText(b, "EncryptionType")
			b = appendCBORText(b, string(enc))
		}
		b = append(b, cborBreak)
	} else {
		b = append(b, `],"FailedRecordCount":`...)
		b = appendJSONInt(b, int64(w.failed))
		if enc != "" {
			b = append(b, `,"EncryptionType":`...)
			b = appendJSONString(b, enc)
		}
		b = append(b, '}')
	}
	w.buf = nil
	return b
}

func appendPutResult[S ~string | ~[]byte](b []byte, f Format, first bool, seq S, shardID string) []byte {
	if f == FormatCBOR {
		b = append(b, cborMajorMap|2)
		b = appendCBORText(b, "SequenceNumber")
		b = appendCBORHead(b, cborMajorText, uint64(len(seq)))
		b = append(b, seq...)
		b = appendCBORText(b, "ShardId")
		return appendCBORText(b, shardID)
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, `{"SequenceNumber":`...)
	b = appendJSONString(b, seq)
	b = append(b, `,"ShardId":`...)
	b = appendJSONString(b, shardID)
	return append(b, '}')
}
