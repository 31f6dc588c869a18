package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The framing (drawn in doc.go, specified in docs/protocol.md). These
// constants are part of the protocol: changing any of them is a version bump.
const (
	// Magic opens both hellos: the bytes "SLCW".
	Magic = "SLCW"
	// Version is the protocol version this package speaks.
	Version uint16 = 1

	// HelloSize is the size of the client's and the server's hello: magic,
	// version, status, features, maximum frame size.
	HelloSize = 4 + 2 + 2 + 4 + 4

	// lengthSize is the frame's length prefix; the length counts the bytes
	// after it.
	lengthSize = 4
	// HeaderSize is the bytes of a frame before its body: length, opcode,
	// flags, reserved, request id.
	HeaderSize = lengthSize + 1 + 1 + 2 + 8

	// DefaultMaxFrameSize is the default limit on a whole frame (header
	// included): 16 MiB holds a 10 MiB record or a 10 MiB PutRecords batch
	// or read result with room for their framing.
	DefaultMaxFrameSize = 16 << 20
	// MinMaxFrameSize is the smallest maximum frame size a peer may
	// announce.
	MinMaxFrameSize = 64 << 10

	// FlagError marks a response whose body is an error (str name, str
	// message) instead of the operation's result. Requests carry no flags.
	FlagError uint8 = 1 << 0
)

// Hello status codes, sent by the server in its hello. A server that sends a
// non-zero status closes the connection after its hello.
const (
	StatusOK       uint16 = 0 // the connection is open
	StatusVersion  uint16 = 1 // the client's version is not supported; version says which is
	StatusBusy     uint16 = 2 // the server has as many connections as it allows
	StatusShutdown uint16 = 3 // the server is shutting down
	StatusBadHello uint16 = 4 // the client's hello is invalid (maximum frame size below MinMaxFrameSize)
)

// Op is a frame's opcode: the operation of a request and of its response.
type Op uint8

// Opcodes. They are part of the protocol: never renumber one.
const (
	OpPing              Op = 0x01
	OpCreateStream      Op = 0x02
	OpDeleteStream      Op = 0x03
	OpDescribeStream    Op = 0x04
	OpListStreams       Op = 0x05
	OpListShards        Op = 0x06
	OpPutRecord         Op = 0x07
	OpPutRecords        Op = 0x08
	OpGetIterator       Op = 0x09
	OpRead              Op = 0x0A
	OpSplitShard        Op = 0x0B
	OpMergeShards       Op = 0x0C
	OpUpdateShardCount  Op = 0x0D
	OpIncreaseRetention Op = 0x0E
	OpDecreaseRetention Op = 0x0F
	OpAddTags           Op = 0x10
	OpRemoveTags        Op = 0x11
	OpListTags          Op = 0x12
	OpSetQuotas         Op = 0x13
	OpSetDurability     Op = 0x14
	OpSetMaxRecordSize  Op = 0x15
	OpSetStreamMode     Op = 0x16
	// OpStartStreamEncryption and OpStopStreamEncryption set a stream's
	// encryption at rest (kms.go).
	OpStartStreamEncryption Op = 0x17
	OpStopStreamEncryption  Op = 0x18
	// OpHotKeys lists the single hot keys the autoscaler reports for an
	// ON_DEMAND stream.
	OpHotKeys Op = 0x19
	// OpShardMap returns a stream's open shards, their hash key ranges and
	// each one's leader with its binary-protocol address (routing.go).
	OpShardMap Op = 0x1A
	// OpPutShard is a PutRecords meant for one shard's leader: a node
	// that does not lead the shard answers NotLeaderException instead of
	// forwarding the records (routing.go).
	OpPutShard Op = 0x1B

	// OpSubscribe starts a subscription; its response ends it.
	OpSubscribe Op = 0x20
	// OpEvent (server to client) carries records of a subscription.
	OpEvent Op = 0x21
	// OpCredit (client to server) grants a subscription more bytes; no
	// response.
	OpCredit Op = 0x22
	// OpCancel (client to server) ends a subscription; the subscription's
	// OpSubscribe response follows.
	OpCancel Op = 0x23

	// OpChallenge (server to client, request id 0) carries the server's
	// nonce right after the hellos of a connection that must authenticate.
	OpChallenge Op = 0x30
	// OpAuthenticate (client to server) answers the challenge with an
	// access key id and a proof of its secret; its response carries the
	// server's proof. See auth.go.
	OpAuthenticate Op = 0x31

	// The operations of the server's key service (kms.go): master keys,
	// their aliases, rotation and the rewrap of stored data keys.
	OpCreateKey   Op = 0x40
	OpListKeys    Op = 0x41
	OpDescribeKey Op = 0x42
	OpCreateAlias Op = 0x43
	OpListAliases Op = 0x44
	OpRotateKey   Op = 0x45
	OpDisableKey  Op = 0x46
	OpEnableKey   Op = 0x47
	OpRewrap      Op = 0x48

	// The operations of consumer groups (groups.go).
	OpJoinGroup       Op = 0x50
	OpGroupHeartbeat  Op = 0x51
	OpCheckpointGroup Op = 0x52
	OpLeaveGroup      Op = 0x53
	OpListGroups      Op = 0x54
	OpDescribeGroup   Op = 0x55
	OpResetGroup      Op = 0x56
	OpDeleteGroup     Op = 0x57

	// OpGoAway (server to client, request id 0) says the server is closing
	// the connection and why.
	OpGoAway Op = 0x3F
)

var opNames = map[Op]string{
	OpPing: "Ping", OpCreateStream: "CreateStream", OpDeleteStream: "DeleteStream",
	OpDescribeStream: "DescribeStream", OpListStreams: "ListStreams", OpListShards: "ListShards",
	OpPutRecord: "PutRecord", OpPutRecords: "PutRecords", OpGetIterator: "GetIterator", OpRead: "Read",
	OpSplitShard: "SplitShard", OpMergeShards: "MergeShards", OpUpdateShardCount: "UpdateShardCount",
	OpIncreaseRetention: "IncreaseRetention", OpDecreaseRetention: "DecreaseRetention",
	OpAddTags: "AddTags", OpRemoveTags: "RemoveTags", OpListTags: "ListTags", OpSetQuotas: "SetQuotas",
	OpSetDurability: "SetDurability", OpSetMaxRecordSize: "SetMaxRecordSize", OpSetStreamMode: "SetStreamMode",
	OpSubscribe: "Subscribe", OpEvent: "Event", OpCredit: "Credit", OpCancel: "Cancel",
	OpChallenge: "Challenge", OpAuthenticate: "Authenticate", OpGoAway: "GoAway",
	OpStartStreamEncryption: "StartStreamEncryption", OpStopStreamEncryption: "StopStreamEncryption",
	OpHotKeys: "HotKeys", OpShardMap: "ShardMap", OpPutShard: "PutShard",
	OpCreateKey: "CreateKey", OpListKeys: "ListKeys", OpDescribeKey: "DescribeKey", OpCreateAlias: "CreateAlias",
	OpListAliases: "ListAliases", OpRotateKey: "RotateKey", OpDisableKey: "DisableKey", OpEnableKey: "EnableKey",
	OpRewrap:    "Rewrap",
	OpJoinGroup: "JoinGroup", OpGroupHeartbeat: "GroupHeartbeat", OpCheckpointGroup: "CheckpointGroup",
	OpLeaveGroup: "LeaveGroup", OpListGroups: "ListGroups", OpDescribeGroup: "DescribeGroup",
	OpResetGroup: "ResetGroup", OpDeleteGroup: "DeleteGroup",
}

func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("Op(%#02x)", uint8(o))
}

// Header is a decoded frame Header.
type Header struct {
	Size  int // the whole frame in bytes, header included
	Op    Op
	Flags uint8
	ID    uint64
}

// PutHeader writes h into b[:HeaderSize].
func PutHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	binary.LittleEndian.PutUint32(b, uint32(h.Size-lengthSize))
	b[4] = byte(h.Op)
	b[5] = h.Flags
	b[6], b[7] = 0, 0
	binary.LittleEndian.PutUint64(b[8:], h.ID)
}

// FrameError is a frame the receiver cannot accept: its length is below the
// header size or above the maximum frame size, or its reserved bits are set.
// After one, the byte stream cannot be trusted and the connection closes.
type FrameError struct {
	Size, Max int
	Detail    string
}

func (e *FrameError) Error() string {
	if e.Detail != "" {
		return "wire: bad frame: " + e.Detail
	}
	return fmt.Sprintf("wire: frame of %d bytes exceeds the limit of %d bytes", e.Size, e.Max)
}

// Is reports whether target is ErrFrameTooLarge for an oversize frame.
func (e *FrameError) Is(target error) bool { return target == ErrFrameTooLarge && e.Detail == "" }

// ParseHeader decodes a frame header and checks its length against max. On
// an oversize frame it returns the header too, so that the receiver can
// answer the request id before it closes.
func ParseHeader(b []byte, max int) (Header, error) {
	_ = b[HeaderSize-1]
	n := uint64(binary.LittleEndian.Uint32(b))
	h := Header{
		Size:  int(n) + lengthSize,
		Op:    Op(b[4]),
		Flags: b[5],
		ID:    binary.LittleEndian.Uint64(b[8:]),
	}
	if n < HeaderSize-lengthSize {
		return h, &FrameError{Size: h.Size, Detail: fmt.Sprintf("length %d is below the %d bytes of the header after it", n, HeaderSize-lengthSize)}
	}
	if b[6] != 0 || b[7] != 0 {
		return h, &FrameError{Size: h.Size, Detail: fmt.Sprintf("reserved bytes %#02x %#02x are not zero", b[6], b[7])}
	}
	if h.Size > max {
		return h, &FrameError{Size: h.Size, Max: max}
	}
	return h, nil
}

// Hello is the handshake message either side sends first.
type Hello struct {
	Version  uint16
	Status   uint16 // server only; 0 from a client
	Features uint32 // feature bits (FeatureAuth); a peer ignores bits it does not know
	MaxFrame uint32 // the largest frame the sender accepts
}

// Marshal encodes h as it goes on the wire. A hello read by ReadHello
// marshals back to the bytes that were read: the authentication transcript
// relies on it.
func (h Hello) Marshal() [HelloSize]byte {
	var b [HelloSize]byte
	copy(b[:4], Magic)
	binary.LittleEndian.PutUint16(b[4:], h.Version)
	binary.LittleEndian.PutUint16(b[6:], h.Status)
	binary.LittleEndian.PutUint32(b[8:], h.Features)
	binary.LittleEndian.PutUint32(b[12:], h.MaxFrame)
	return b
}

// ReadHello reads and checks a hello from r.
func ReadHello(r io.Reader) (Hello, error) {
	var b [HelloSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Hello{}, fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	if string(b[:4]) != Magic {
		return Hello{}, fmt.Errorf("%w: the peer sent %q where the magic %q belongs; it does not speak the sluice protocol", ErrHandshake, b[:4], Magic)
	}
	h := Hello{
		Version:  binary.LittleEndian.Uint16(b[4:]),
		Status:   binary.LittleEndian.Uint16(b[6:]),
		Features: binary.LittleEndian.Uint32(b[8:]),
		MaxFrame: binary.LittleEndian.Uint32(b[12:]),
	}
	return h, nil
}

// zeroHeader is the placeholder a frame's header takes until EndFrame.
var zeroHeader [HeaderSize]byte

// BeginFrame appends a placeholder header to b and returns the frame's
// start offset in b.
func BeginFrame(b []byte) ([]byte, int) {
	return append(b, zeroHeader[:]...), len(b)
}

// EndFrame fills in the header of the frame that starts at b[start]: it
// covers everything appended since plus extLen bytes written after b.
func EndFrame(b []byte, start int, op Op, flags uint8, id uint64, extLen int) {
	PutHeader(b[start:], Header{Size: len(b) - start + extLen, Op: op, Flags: flags, ID: id})
}
