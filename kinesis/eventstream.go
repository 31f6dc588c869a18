package kinesis

import (
	"encoding/binary"

	// The event-stream format is defined with CRC-32 IEEE, not the
	// Castagnoli polynomial of internal/checksum, so it cannot use that
	// primitive; hash/crc32's IEEE table is the one allowed exception to "one
	// checksum primitive", and it is used in this file only (and by the
	// decoder the tests read messages with, eventstream_decode_test.go).
	"hash/crc32"
)

// ContentTypeEventStream is the media type of a SubscribeToShard response body.
const ContentTypeEventStream = "application/vnd.amazon.eventstream"

// Event-stream message layout (see doc.go). These constants are part of the
// format and must not change.
const (
	esPreludeLen    = 4 + 4 // total length, headers length
	esPreludeCRCLen = 4     // CRC-32 IEEE of the prelude
	esMessageCRCLen = 4     // CRC-32 IEEE of everything before it
	esHeadersOffset = esPreludeLen + esPreludeCRCLen
	esMinMessageLen = esHeadersOffset + esMessageCRCLen

	esMaxHeadersLen     = 128 * 1024       // the AWS limit on a message's headers
	esMaxPayloadLen     = 16 * 1024 * 1024 // the AWS limit on a message's payload
	esMaxMessageLen     = esMinMessageLen + esMaxHeadersLen + esMaxPayloadLen
	esMaxHeaderNameLen  = 255       // u8 length prefix
	esMaxHeaderValueLen = 1<<15 - 1 // AWS caps string and byte values at 32 KiB - 1
)

// Header value types of the event-stream format.
const (
	esTypeTrue      byte = 0
	esTypeFalse     byte = 1
	esTypeByte      byte = 2
	esTypeInt16     byte = 3
	esTypeInt32     byte = 4
	esTypeInt64     byte = 5
	esTypeBytes     byte = 6
	esTypeString    byte = 7
	esTypeTimestamp byte = 8
	esTypeUUID      byte = 9
)

// EventStreamEncoder builds application/vnd.amazon.eventstream messages in
// one reusable buffer: the slice each method returns is valid until the next
// call. It is not safe for concurrent use; a subscription owns one.
//
// The message payloads are in the format of the SubscribeToShard request
// (:content-type application/json or application/x-amz-cbor-1.1): the Java
// SDK v2 parses event payloads with the protocol it sent the request in.
type EventStreamEncoder struct {
	buf     []byte
	records RecordsWriter
}

// InitialResponse returns the initial-response event that must open the
// stream (the Go SDK fails the subscription without it). Its payload is an
// empty object, as SubscribeToShardOutput has no members besides the stream.
func (e *EventStreamEncoder) InitialResponse(f Format) []byte {
	e.begin(esInitialResponseHeaders[esFormatIndex(f)])
	if f == FormatCBOR {
		e.buf = append(e.buf, cborMajorMap|0)
	} else {
		e.buf = append(e.buf, "{}"...)
	}
	return e.finish()
}

// Exception returns an exception message that ends the stream with err: a
// ResourceNotFoundException, ResourceInUseException, one of the KMS
// exceptions or InternalFailureException (the members of the
// SubscribeToShardEventStream union). The payload is {"message": text}.
func (e *EventStreamEncoder) Exception(f Format, err *Error) []byte {
	e.begin(esExceptionHeaders(f, err.Code))
	if f == FormatCBOR {
		e.buf = append(e.buf, cborMajorMap|1)
		e.buf = appendCBORText(e.buf, "message")
		e.buf = appendCBORText(e.buf, toValidUTF8(err.Message))
	} else {
		e.buf = append(e.buf, `{"message":`...)
		e.buf = appendJSONString(e.buf, err.Message)
		e.buf = append(e.buf, '}')
	}
	return e.finish()
}

// BeginSubscribeToShardEvent starts a SubscribeToShardEvent message and
// returns the writer for its records; end it with FinishSubscribeToShardEvent.
func (e *EventStreamEncoder) BeginSubscribeToShardEvent(f Format) *RecordsWriter {
	e.begin(esSubscribeEventHeaders[esFormatIndex(f)])
	e.records.Begin(e.buf, f)
	return &e.records
}

// FinishSubscribeToShardEvent ends the message begun by
// BeginSubscribeToShardEvent and returns it.
func (e *EventStreamEncoder) FinishSubscribeToShardEvent(continuation string, millisBehind int64, children []ChildShard) []byte {
	e.buf = e.records.FinishSubscribeToShardEvent(continuation, millisBehind, children)
	return e.finish()
}

// SubscribeToShardEvent returns a SubscribeToShardEvent message for ev.
func (e *EventStreamEncoder) SubscribeToShardEvent(f Format, ev *SubscribeToShardEvent) []byte {
	w := e.BeginSubscribeToShardEvent(f)
	for i := range ev.Records {
		w.record(&ev.Records[i])
	}
	return e.FinishSubscribeToShardEvent(ev.ContinuationSequenceNumber, ev.MillisBehindLatest, ev.ChildShards)
}

// begin resets the buffer to a prelude placeholder followed by the headers.
func (e *EventStreamEncoder) begin(headers []byte) {
	var prelude [esHeadersOffset]byte
	e.buf = append(e.buf[:0], prelude[:]...)
	e.buf = append(e.buf, headers...)
	binary.BigEndian.PutUint32(e.buf[4:8], uint32(len(headers)))
}

// finish fills in the prelude and appends the message CRC.
func (e *EventStreamEncoder) finish() []byte {
	total := len(e.buf) + esMessageCRCLen
	binary.BigEndian.PutUint32(e.buf[0:4], uint32(total))
	binary.BigEndian.PutUint32(e.buf[esPreludeLen:esHeadersOffset], crc32.ChecksumIEEE(e.buf[:esPreludeLen]))
	e.buf = binary.BigEndian.AppendUint32(e.buf, crc32.ChecksumIEEE(e.buf))
	return e.buf
}

// Header blocks of the event messages, by event type and format index (0
// JSON, 1 CBOR), built once: messages of a kind differ only in payload.
var (
	esInitialResponseHeaders = esBuildEventHeaders("initial-response")
	esSubscribeEventHeaders  = esBuildEventHeaders("SubscribeToShardEvent")
)

func esBuildEventHeaders(eventType string) (blocks [2][]byte) {
	for i, f := range []Format{FormatJSON, FormatCBOR} {
		blocks[i] = buildHeaders(nil, ":message-type", "event", ":event-type", eventType, ":content-type", esPayloadType(f))
	}
	return blocks
}

func esPayloadType(f Format) string {
	if f == FormatCBOR {
		return ContentTypeCBOR
	}
	return "application/json"
}

func esFormatIndex(f Format) int {
	if f == FormatCBOR {
		return 1
	}
	return 0
}

// esExceptionHeaders builds the headers of an exception message (codes are
// few; the block is not cached to keep the encoder free of shared state).
func esExceptionHeaders(f Format, code ErrorCode) []byte {
	if code == codeNone {
		code = CodeInternalFailure
	}
	return buildHeaders(nil, ":message-type", "exception", ":exception-type", string(code), ":content-type", esPayloadType(f))
}

// buildHeaders appends string headers given as name, value pairs.
func buildHeaders(dst []byte, kv ...string) []byte {
	for i := 0; i+1 < len(kv); i += 2 {
		dst = appendStringHeader(dst, kv[i], kv[i+1])
	}
	return dst
}

// appendStringHeader appends one header of type string. Names longer than 255
// bytes and values longer than 32767 bytes are truncated (the format cannot
// carry them); the encoder only writes fixed, short headers.
func appendStringHeader(dst []byte, name, value string) []byte {
	if len(name) > esMaxHeaderNameLen {
		name = name[:esMaxHeaderNameLen]
	}
	if len(value) > esMaxHeaderValueLen {
		value = value[:esMaxHeaderValueLen]
	}
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = append(dst, esTypeString)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}
