package kinesis

import (
	"encoding/binary"
	"errors"
	"fmt"

	// The event-stream format is defined with CRC-32 IEEE, not the
	// Castagnoli polynomial of internal/checksum, so it cannot use that
	// primitive; hash/crc32's IEEE table is the one allowed exception to "one
	// checksum primitive", and it is used in this file only.
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

// esFixedLen is the value length of the fixed-size header types (-1: a u16
// length prefix follows, 0: no value).
var esFixedLen = [...]int{
	esTypeTrue: 0, esTypeFalse: 0, esTypeByte: 1, esTypeInt16: 2, esTypeInt32: 4,
	esTypeInt64: 8, esTypeBytes: -1, esTypeString: -1, esTypeTimestamp: 8, esTypeUUID: 16,
}

// Errors of DecodeEventStreamMessage.
var (
	// ErrEventStreamShort means the buffer holds less than one whole message;
	// read more and try again.
	ErrEventStreamShort = errors.New("kinesis: event stream: incomplete message")
	// ErrEventStreamCorrupt means the bytes are not a valid message.
	ErrEventStreamCorrupt = errors.New("kinesis: event stream: corrupt message")
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

// EventHeader is a decoded event-stream header. Value holds the raw value:
// the bytes of a string or byte-array header, the big-endian bytes of a
// number or timestamp, the 16 bytes of a UUID, nothing for booleans.
type EventHeader struct {
	Name  string
	Type  byte
	Value []byte
}

// EventMessage is a decoded event-stream message. Its Payload and header
// Values alias the decoded buffer.
type EventMessage struct {
	Headers []EventHeader
	Payload []byte
}

// Header returns the value of the first string header named name.
func (m *EventMessage) Header(name string) (string, bool) {
	for _, h := range m.Headers {
		if h.Name == name && h.Type == esTypeString {
			return string(h.Value), true
		}
	}
	return "", false
}

// DecodeEventStreamMessage decodes the message at the start of b and returns
// it with its length. It returns ErrEventStreamShort (wrapped) when b holds
// only part of a message, and ErrEventStreamCorrupt (wrapped, with what and
// where) for lengths out of bounds, a CRC mismatch or malformed headers.
func DecodeEventStreamMessage(b []byte) (EventMessage, int, error) {
	if len(b) < esHeadersOffset {
		return EventMessage{}, 0, fmt.Errorf("%w: %d of the %d prelude bytes", ErrEventStreamShort, len(b), esHeadersOffset)
	}
	total := binary.BigEndian.Uint32(b[0:4])
	headersLen := binary.BigEndian.Uint32(b[4:8])
	if crc := crc32.ChecksumIEEE(b[:esPreludeLen]); crc != binary.BigEndian.Uint32(b[esPreludeLen:esHeadersOffset]) {
		return EventMessage{}, 0, fmt.Errorf("%w: prelude CRC %#08x, computed %#08x", ErrEventStreamCorrupt,
			binary.BigEndian.Uint32(b[esPreludeLen:esHeadersOffset]), crc)
	}
	if total < esMinMessageLen || total > esMaxMessageLen {
		return EventMessage{}, 0, fmt.Errorf("%w: message length %d; it must be %d..%d", ErrEventStreamCorrupt, total, esMinMessageLen, esMaxMessageLen)
	}
	if headersLen > esMaxHeadersLen || headersLen > total-esMinMessageLen {
		return EventMessage{}, 0, fmt.Errorf("%w: headers length %d in a message of %d bytes", ErrEventStreamCorrupt, headersLen, total)
	}
	if total-esMinMessageLen-headersLen > esMaxPayloadLen {
		return EventMessage{}, 0, fmt.Errorf("%w: payload of %d bytes; the limit is %d", ErrEventStreamCorrupt, total-esMinMessageLen-headersLen, esMaxPayloadLen)
	}
	if uint64(len(b)) < uint64(total) {
		return EventMessage{}, 0, fmt.Errorf("%w: %d of %d bytes", ErrEventStreamShort, len(b), total)
	}
	msg := b[:total]
	body := msg[:total-esMessageCRCLen]
	if crc := crc32.ChecksumIEEE(body); crc != binary.BigEndian.Uint32(msg[total-esMessageCRCLen:]) {
		return EventMessage{}, 0, fmt.Errorf("%w: message CRC %#08x, computed %#08x", ErrEventStreamCorrupt,
			binary.BigEndian.Uint32(msg[total-esMessageCRCLen:]), crc)
	}
	headers, err := decodeEventHeaders(body[esHeadersOffset : esHeadersOffset+headersLen])
	if err != nil {
		return EventMessage{}, 0, err
	}
	payload := body[esHeadersOffset+headersLen:]
	return EventMessage{Headers: headers, Payload: payload[:len(payload):len(payload)]}, int(total), nil
}

// decodeEventHeaders decodes a header block.
func decodeEventHeaders(b []byte) ([]EventHeader, error) {
	var headers []EventHeader
	for pos := 0; pos < len(b); {
		nameLen := int(b[pos])
		pos++
		if nameLen == 0 || pos+nameLen+1 > len(b) {
			return nil, fmt.Errorf("%w: header name at header byte %d", ErrEventStreamCorrupt, pos-1)
		}
		name := string(b[pos : pos+nameLen])
		pos += nameLen
		typ := b[pos]
		pos++
		if int(typ) >= len(esFixedLen) {
			return nil, fmt.Errorf("%w: header %q has unknown type %d", ErrEventStreamCorrupt, name, typ)
		}
		n := esFixedLen[typ]
		if n < 0 {
			if pos+2 > len(b) {
				return nil, fmt.Errorf("%w: header %q value length cut off", ErrEventStreamCorrupt, name)
			}
			n = int(binary.BigEndian.Uint16(b[pos:]))
			pos += 2
			if n > esMaxHeaderValueLen {
				return nil, fmt.Errorf("%w: header %q value of %d bytes; the limit is %d", ErrEventStreamCorrupt, name, n, esMaxHeaderValueLen)
			}
		}
		if pos+n > len(b) {
			return nil, fmt.Errorf("%w: header %q value cut off", ErrEventStreamCorrupt, name)
		}
		headers = append(headers, EventHeader{Name: name, Type: typ, Value: b[pos : pos+n : pos+n]})
		pos += n
	}
	return headers, nil
}
