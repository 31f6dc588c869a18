package kinesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The decoder of application/vnd.amazon.eventstream messages the tests read
// SubscribeToShard responses with; the server only encodes them
// (eventstream.go).

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
