// Package wire is sluice's binary TCP protocol: the frame format and the
// codec of every message, the Server that serves an engine.Engine over it,
// and the Go client (Client, Producer, Consumer). docs/protocol.md
// specifies the protocol completely enough to write a client in another
// language; this comment draws the formats.
//
// # Handshake
//
// Each side first sends a 16-byte hello; the client sends first. All
// integers in the protocol are little-endian unless a diagram says
// otherwise.
//
//	 0       4         6         8          12          16
//	+-------+---------+---------+----------+-----------+
//	| magic | version | status  | features | max frame |
//	| "SLCW"| u16     | u16     | u32      | u32       |
//	+-------+---------+---------+----------+-----------+
//
// The client's version is the highest it speaks and its status is 0; max
// frame is the largest frame it accepts (at least MinMaxFrameSize). The
// server answers with the version it will speak, a status (0 open, 1
// unsupported version, 2 too many connections, 3 shutting down, 4 invalid
// hello) and the largest frame it accepts; after a non-zero status it
// closes the connection. Each side ignores feature bits it does not know.
// Version 1 defines one, FeatureAuth (0x1): a client sets it when it can
// authenticate, a server when the connection must.
//
// # Authentication
//
// On a connection whose server hello sets FeatureAuth, the server sends an
// OpChallenge frame (request id 0) with a 32-byte nonce right after its
// hello, and the client's first frame must be an OpAuthenticate request:
// its access key id, its own nonce and an HMAC-SHA256 proof of its secret
// over both hellos and both nonces. The server answers with its own proof
// over the same transcript, or with an error and a GoAway before closing.
// A client whose hello did not set the bit gets the hello, then a GoAway
// saying the server requires authentication. auth.go draws the frames and
// the transcript.
//
// # Frames
//
// After the hellos both directions carry frames:
//
//	 0        4        5       6          8                16
//	+--------+--------+-------+----------+----------------+--------------+
//	| length | opcode | flags | reserved | request id     | body         |
//	| u32    | u8     | u8    | u16 = 0  | u64            | length-12 B  |
//	+--------+--------+-------+----------+----------------+--------------+
//	         |<------------------------ length --------------------------->|
//
// length counts the bytes after itself; a whole frame (4 + length) may not
// exceed the receiver's max frame. The client numbers its requests (any
// non-zero id unique among its requests in flight); a response carries its
// request's opcode and id, and responses come in any order, so a client
// may pipeline as many requests as it likes. Request flags are 0; a
// response with FlagError (bit 0) carries an error body instead of its
// result:
//
//	+-----------------------------------+--------------------------+
//	| name: str                         | message: str             |
//	| Kinesis exception name, e.g.      | what was wrong and what  |
//	| "ResourceNotFoundException"       | would be right           |
//	+-----------------------------------+--------------------------+
//
// Request ids are chosen by the client, except 0, which marks the frames
// the server sends on its own (OpChallenge, OpGoAway).
//
// A frame the server cannot parse (a length below 12, reserved bits set,
// request id 0) or one over its max frame (answered with an error first)
// ends the connection after an OpGoAway frame (request id 0, error body); a
// malformed body, unknown opcode or set flag is answered with an
// InvalidArgumentException and the connection goes on. No malformed frame
// reaches the engine.
//
// # Bodies
//
// Bodies are built from these primitives: u8 u16 u32 u64 i64; bool (u8 0
// or 1); str (u16 length, UTF-8 bytes); bytes16 (u16 length, bytes);
// bytes32 (u32 length, bytes); time (i64 Unix nanoseconds, 0 = none); hash
// (a 128-bit hash key, 16 bytes big-endian: the bytes of an MD5 digest);
// seqnum (u32 incarnation, u32 shard, u64 sequence: the decimal sequence
// number is incarnation·2^96 + shard·2^64 + (sequence+1 mod 2^64), so that
// a shard's starting sequence number, sequence 2^64-1, has low word 0 and
// sorts before its first record, sequence 0). A position says where a shard
// read starts:
//
//	+-------------+------------------+-----------+--------------+
//	| stream: str | incarnation: u32 | shard: u32| sequence: u64|
//	+-------------+------------------+-----------+--------------+
//
// The message of each opcode is listed in docs/protocol.md (and in
// messages.go). The one that matters for speed is a PutRecords request:
//
//	+-------------+-----------+--------------------------------------------------------------+
//	| stream: str | count: u16| count × ( flags u8 | [hash] | key: bytes16 | data: bytes32 )   |
//	+-------------+-----------+--------------------------------------------------------------+
//	                            flags bit 0: an explicit hash key (16 B) follows
//
// and a read result, which is also the body of every subscription event:
//
//	+---------------+-----------------+-------+-------------+----------------+-----------+-----------+--------+
//	| next position | millis behind   | flags | child count | child shards   | records   | frames    | frames |
//	|               | i64             | u8    | u16         | count × shard  | u32       | length u32|        |
//	+---------------+-----------------+-------+-------------+----------------+-----------+-----------+--------+
//	                                    flags bit 0: shard end         the stored segment frames ->|
//
// The frames are the records exactly as stored (package record's frame
// format, each with its masked CRC-32C): the server writes them with
// writev straight from the mapped segment, and the client verifies every
// CRC, so integrity is end to end.
//
// # Encryption at rest
//
// StartStreamEncryption and StopStreamEncryption set a stream's encryption;
// the key service's operations (CreateKey, ListKeys, DescribeKey,
// CreateAlias, ListAliases, RotateKey, DisableKey, EnableKey, Rewrap) manage
// the server's master keys, which live with the server alone. A key in a
// response:
//
//	+-------------+-----------+-------------------+--------------+---------------+--------------+--------------+
//	| key id: str | arn: str  | description: str  | created: time| enabled: bool | version: u32 | rotated: time|
//	+-------------+-----------+-------------------+--------------+---------------+--------------+--------------+
//
// Read results carry encrypted records decrypted, as frames with a fresh
// CRC and the encrypted flag set. kms.go holds the messages.
//
// # Consumer groups
//
// Operations 0x50 to 0x57 (JoinGroup, GroupHeartbeat, CheckpointGroup,
// LeaveGroup, ListGroups, DescribeGroup, ResetGroup, DeleteGroup) are
// sluice's consumer groups: groups.go holds the messages, docs/groups.md
// what a member does with them. A checkpoint is
//
//	| str sequence | u64 sub-sequence | u8 flags (0x1 whole record, 0x2 SHARD_END) |
//
// # Routing to shard leaders
//
// ShardMap (0x1A) returns a stream's open shards with their hash key ranges
// and each one's leader and its address; PutShard (0x1B) is a PutRecords
// meant for one shard's leader, refused with NotLeaderException (whose
// error body names the leader after the message) by a node that does not
// lead it. routing.go draws both.
//
// # Subscriptions
//
// A Subscribe request (position, u32 initial credit) opens a subscription
// under its request id. The server pushes OpEvent frames with that id as
// records are committed, deducting each event's frames length from the
// credit and sending only while the credit is positive (an event may take
// it below zero by at most one record). The client grants more with
// OpCredit frames (u32 bytes) under the same id and ends the subscription
// with OpCancel; neither is answered. The subscription ends with its one
// OpSubscribe response: empty after the event that reaches the end of a
// closed shard or after a Cancel, an error otherwise.
package wire
